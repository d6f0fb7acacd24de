"""The protocol's performance figures [002] ("What is reported", docs/domain.md), for any period and locality.

Counts of what happened come from `case_events` (the log of record); states at
the end of the period and deadline outcomes come from the projections.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from typing import Literal

import asyncpg
from pydantic import BaseModel, ConfigDict

from workflows.bounds import Id, Name, When
from workflows.calendar import LONDON
from workflows.state import CHILD_ROLES

Channel = Literal["phone", "email", "drop_in", "online"]
ContactOutcome = Literal["advice_given", "signposted", "referral_made"]


class AdviceContact(BaseModel):
    """One contact through a locality's advice point: counted, never a case; no names, no text [002]."""

    model_config = ConfigDict(extra="forbid")
    by: Id
    locality: Name
    channel: Channel
    outcome: ContactOutcome
    at: When


class Month(BaseModel):
    month: str
    referrals: int
    accepted: int
    signposted: int
    stepped_up: int
    other: int
    taf_on_time: int
    taf_late: int
    reviews_on_time: int
    reviews_late: int


class Report(BaseModel):
    period_from: date
    period_to: date
    locality: str | None
    referrals: int
    # Referrals accepted for an EHA; step-downs from social care on a line of their own [DOMAIN 9].
    accepted: int
    step_downs: int
    signposted: int
    # Cases children's social care accepted; MASH referrals made is a figure of its own [DOMAIN 9].
    stepped_up: int
    mash_referrals: int
    children_referred: int
    re_referrals: int
    re_referrals_pct: float | None
    awaiting_allocation: int
    open_cases: int
    open_children: int
    taf_due: int
    taf_on_time: int
    taf_within_four_weeks_pct: float | None
    reviews_due: int
    reviews_on_time: int
    reviews_on_time_pct: float | None
    closures: int
    closures_needs_met: int
    closures_needs_met_pct: float | None
    masp_referrals: int
    # From the contact log (`earlyhelp contact`, the web app's contact form): not cases.
    advice_point_contacts: int
    months: list[Month]


FIGURES = [  # (field, label) in the order the protocol reports them
    ("referrals", "Referrals received (families)"),
    ("children_referred", "Children and young people referred"),
    ("accepted", "Accepted for an Early Help Assessment"),
    ("step_downs", "Step-downs from social care"),
    ("signposted", "Signposted (below threshold)"),
    ("stepped_up", "Stepped up (accepted by social care)"),
    ("mash_referrals", "Referrals to MASH made"),
    ("re_referrals_pct", "Re-referrals within 12 months (%)"),
    ("awaiting_allocation", "Awaiting allocation (at period end)"),
    ("open_cases", "Open cases (at period end)"),
    ("open_children", "Children and young people in open cases (at period end)"),
    ("taf_within_four_weeks_pct", "TAF held within four weeks of allocation (%)"),
    ("reviews_on_time_pct", "Reviews held on time (%)"),
    ("closures_needs_met_pct", "Closures with needs met (%)"),
    ("masp_referrals", "Cases referred to MASP"),
    ("advice_point_contacts", "Contacts through the advice point"),
]


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The period as London days, inclusive of both dates."""
    return datetime.combine(start, time(), LONDON), datetime.combine(end + timedelta(days=1), time(), LONDON)


_EVENTS = """
SELECT count(*) FILTER (WHERE e.type = 'CaseReferred') AS referrals,
       count(*) FILTER (WHERE e.type = 'ScreeningRecorded' AND e.data->>'decision' = 'accept') AS accepted,
       count(*) FILTER (WHERE e.type = 'CaseReferred' AND e.data->>'route' = 'step_down') AS step_downs,
       count(*) FILTER (WHERE e.type = 'ScreeningRecorded' AND e.data->>'decision' = 'signpost') AS signposted,
       count(*) FILTER (WHERE e.type = 'PreviousCasesFound' AND (e.data->>'re_referral')::boolean) AS re_referrals,
       count(*) FILTER (WHERE e.type = 'CaseEnded' AND e.data->>'final_stage' = 'closed') AS closures,
       count(*) FILTER (WHERE e.type = 'CaseEnded' AND e.data->>'final_stage' = 'closed'
                          AND coalesce(e.data->>'reason', c.end_reason) = 'needs_met') AS closures_needs_met
FROM case_events e JOIN cases c USING (case_id)
WHERE e.type IN ('CaseReferred', 'ScreeningRecorded', 'PreviousCasesFound', 'CaseEnded')
  AND e.at >= $1 AND e.at < $2 AND ($3::text IS NULL OR c.locality = $3)
"""
# Cases counted once however many such events they have: the rarer events alone, so the sort that a count of
# distinct cases needs is of those few, not of a year's events (benchmarks/README.md, "Read model").
_CASES_WITH = """
SELECT count(DISTINCT e.case_id) FILTER (WHERE e.type = 'SocialCareDecisionRecorded'
                                           AND (e.data->>'accepted')::boolean) AS stepped_up,
       count(DISTINCT e.case_id) FILTER (WHERE e.type = 'SteppedUp') AS mash_referrals,
       count(DISTINCT e.case_id) FILTER (WHERE e.type = 'MaspReferred') AS masp_referrals
FROM case_events e JOIN cases c USING (case_id)
WHERE e.type IN ('SocialCareDecisionRecorded', 'SteppedUp', 'MaspReferred')
  AND e.at >= $1 AND e.at < $2 AND ($3::text IS NULL OR c.locality = $3)
"""
_STATE_AT_END = """
SELECT count(*) FILTER (WHERE c.accepted_at < $2 AND (c.allocated_at IS NULL OR c.allocated_at >= $2)
                          AND (c.ended_at IS NULL OR c.ended_at >= $2)) AS awaiting_allocation,
       count(*) FILTER (WHERE c.received_at < $2 AND (c.ended_at IS NULL OR c.ended_at >= $2)) AS open_cases,
       coalesce(sum(c.children) FILTER (WHERE c.received_at < $2 AND (c.ended_at IS NULL OR c.ended_at >= $2)),
                0)::int AS open_children,
       coalesce(sum(c.children) FILTER (WHERE c.received_at >= $1 AND c.received_at < $2), 0)::int
         AS children_referred
FROM (SELECT c.*, coalesce(p.children, 0) AS children FROM cases c
      LEFT JOIN (SELECT case_id, count(*) AS children FROM case_people WHERE role = ANY($4::text[]) GROUP BY case_id) p
      USING (case_id)) c
WHERE $1::timestamptz IS NOT NULL AND ($3::text IS NULL OR c.locality = $3)
"""
_CONTACTS = """
SELECT count(*) AS advice_point_contacts FROM advice_contacts
WHERE at >= $1 AND at < $2 AND ($3::text IS NULL OR locality = $3)
"""
_DEADLINES = """
SELECT count(*) FILTER (WHERE d.kind = 'taf') AS taf_due,
       count(*) FILTER (WHERE d.kind = 'taf' AND d.status = 'met') AS taf_on_time,
       count(*) FILTER (WHERE d.kind = 'review') AS reviews_due,
       count(*) FILTER (WHERE d.kind = 'review' AND d.status = 'met') AS reviews_on_time
FROM deadlines d JOIN cases c USING (case_id)
WHERE coalesce(d.completed_at, d.due_at) >= $1 AND coalesce(d.completed_at, d.due_at) < $2
  AND d.status IN ('met', 'missed') AND ($3::text IS NULL OR c.locality = $3)
"""
_MONTHS = """
WITH months AS (
  SELECT to_char(c.received_at AT TIME ZONE 'Europe/London', 'YYYY-MM') AS month,
         CASE WHEN c.route = 'step_down' THEN 'other' WHEN c.screening_decision = 'accept' THEN 'accepted'
              WHEN c.screening_decision = 'signpost' THEN 'signposted'
              WHEN c.stepped_up_at IS NOT NULL THEN 'stepped_up' ELSE 'other' END AS outcome,
         NULL::text AS kind, NULL::text AS status
  FROM cases c WHERE c.received_at >= $1 AND c.received_at < $2 AND ($3::text IS NULL OR c.locality = $3)
  UNION ALL
  SELECT to_char(coalesce(d.completed_at, d.due_at) AT TIME ZONE 'Europe/London', 'YYYY-MM'), NULL, d.kind,
         d.status
  FROM deadlines d JOIN cases c USING (case_id)
  WHERE coalesce(d.completed_at, d.due_at) >= $1 AND coalesce(d.completed_at, d.due_at) < $2
    AND d.kind IN ('taf', 'review') AND d.status IN ('met', 'missed')
    AND ($3::text IS NULL OR c.locality = $3)
)
SELECT month,
       count(outcome) AS referrals,
       count(*) FILTER (WHERE outcome = 'accepted') AS accepted,
       count(*) FILTER (WHERE outcome = 'signposted') AS signposted,
       count(*) FILTER (WHERE outcome = 'stepped_up') AS stepped_up,
       count(*) FILTER (WHERE outcome = 'other') AS other,
       count(*) FILTER (WHERE kind = 'taf' AND status = 'met') AS taf_on_time,
       count(*) FILTER (WHERE kind = 'taf' AND status = 'missed') AS taf_late,
       count(*) FILTER (WHERE kind = 'review' AND status = 'met') AS reviews_on_time,
       count(*) FILTER (WHERE kind = 'review' AND status = 'missed') AS reviews_late
FROM months GROUP BY month ORDER BY month
"""


async def performance(
    db: asyncpg.Pool | asyncpg.Connection, start: date, end: date, locality: str | None = None
) -> Report:
    """The figures for a period; given a pool, its queries run at once, each on a connection of its own."""
    args = (*bounds(start, end), locality)
    asked = [(sql, args) for sql in (_EVENTS, _CASES_WITH, _DEADLINES, _CONTACTS)]
    asked += [(_STATE_AT_END, (*args, sorted(CHILD_ROLES))), (_MONTHS, args)]

    if isinstance(db, asyncpg.Pool):

        async def on_its_own(sql: str, values: tuple) -> list[asyncpg.Record]:
            async with db.acquire() as conn:
                return await conn.fetch(sql, *values)

        answers = await asyncio.gather(*(on_its_own(sql, values) for sql, values in asked))
    else:  # one connection: one query at a time
        answers = [await db.fetch(sql, *values) for sql, values in asked]
    figures: dict = {}
    for rows in answers[:-1]:
        figures |= dict(rows[0])
    months = [Month(**dict(r)) for r in answers[-1]]
    return Report(
        period_from=start,
        period_to=end,
        locality=locality,
        months=months,
        taf_within_four_weeks_pct=pct(figures["taf_on_time"], figures["taf_due"]),
        reviews_on_time_pct=pct(figures["reviews_on_time"], figures["reviews_due"]),
        closures_needs_met_pct=pct(figures["closures_needs_met"], figures["closures"]),
        re_referrals_pct=pct(figures["re_referrals"], figures["referrals"]),
        **figures,
    )


async def record_contact(
    conn: asyncpg.Connection, locality: str, channel: str, outcome: str, by: str, at: datetime
) -> None:
    """One contact through an advice point (counts only) [002]."""
    await conn.execute(
        "INSERT INTO advice_contacts (at, locality, channel, outcome, by_actor) VALUES ($1, $2, $3, $4, $5)",
        at,
        locality,
        channel,
        outcome,
        by,
    )
