"""Managers' and practitioners' views of the read model: caseload, what is due, approvals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from worker.sealing import PLAIN, Sealer
from workflows.models import Event

# The inbox's lists show the oldest this many; the case list's filters find every one.
INBOX_ROWS = 100
# A filter's value: one value, any of several (a team's localities), or None for no filter.
Filter = str | Collection[str] | None


def _filters(**equal: Filter) -> tuple[str, list[Any]]:
    clauses, args = [], []
    for column, value in equal.items():
        if value is None:
            continue
        if isinstance(value, str):
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
        else:
            args.append(list(value))
            clauses.append(f"{column} = ANY(${len(args)})")
    return (" AND " + " AND ".join(clauses)) if clauses else "", args


async def caseload(
    conn: asyncpg.Connection, lead: Filter = None, locality: Filter = None, limit: int | None = None
) -> list[dict]:
    """Open cases with their stage, lead, next deadline and last supervision (the first `limit` of them)."""
    where, args = _filters(**{"c.lead_practitioner": lead, "c.locality": locality})
    args.append(limit)
    rows = await conn.fetch(
        "SELECT c.case_id, c.route, c.locality, c.stage, c.lead_practitioner AS lead, c.received_at,"
        " c.next_deadline, c.overdue, c.last_supervision_at,"
        " EXISTS (SELECT 1 FROM approvals a WHERE a.case_id = c.case_id AND a.resolution IS NULL) AS awaiting_approval"
        f" FROM cases c WHERE c.ended_at IS NULL{where} ORDER BY c.locality, c.lead_practitioner NULLS FIRST, c.case_id"
        f" LIMIT ${len(args)}",
        *args,
    )
    return [dict(r) for r in rows]


async def due(
    conn: asyncpg.Connection,
    now: datetime,
    *,
    overdue: bool = False,
    within: timedelta | None = None,
    lead: Filter = None,
    locality: Filter = None,
    limit: int | None = None,
) -> list[dict]:
    """Deadlines of open cases: overdue (passed, step not done) and, unless `overdue`, those due within `within`;
    the earliest first, the first `limit` of them."""
    where, args = _filters(**{"c.lead_practitioner": lead, "c.locality": locality})
    args += [now, now if overdue else now + (within or timedelta(days=7)), limit]
    n = len(args)
    # Read in due order from the index of deadlines to act on (migration 0011), stopping at `limit`.
    rows = await conn.fetch(
        "SELECT c.case_id, c.locality, c.lead_practitioner AS lead, d.kind, d.due_at, d.status,"
        f" (d.status = 'missed' OR d.due_at < ${n - 2}) AS overdue, d.escalated"
        " FROM deadlines d JOIN cases c USING (case_id)"
        " WHERE NOT d.case_ended AND (d.status = 'pending' OR (d.status = 'missed' AND d.completed_at IS NULL))"
        f" AND (d.status = 'missed' OR d.due_at < ${n - 1}) AND c.ended_at IS NULL{where}"
        f" ORDER BY d.due_at LIMIT ${n}",
        *args,
    )
    return [dict(r) for r in rows]


async def approvals(
    conn: asyncpg.Connection,
    manager: str | None = None,
    locality: Filter = None,
    sealer: Sealer | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Closures waiting for a manager's decision; a manager never sees their own requests [003].

    With a `sealer`, each adds the request's summary per need (from its ClosureRequested event).
    """
    where, args = _filters(**{"c.locality": locality})
    if manager is not None:
        args.append(manager)
        where += f" AND a.requested_by <> ${len(args)}"
    outcomes = ", e.data AS event" if sealer else ""
    rows = await conn.fetch(
        f"SELECT a.case_id, c.locality, c.lead_practitioner AS lead, a.reason, a.requested_by, a.requested_at{outcomes}"
        " FROM approvals a JOIN cases c USING (case_id) LEFT JOIN case_events e ON e.case_id = a.case_id AND e.seq = a.seq"
        f" WHERE a.resolution IS NULL{where} ORDER BY a.requested_at LIMIT ${len(args) + 1}",
        *args,
        limit,
    )
    found = [dict(r) for r in rows]
    for row in found:
        if sealer and (event := row.pop("event", None)):
            row["need_outcomes"] = (await sealer.open_data(row["case_id"], json.loads(event))).get("need_outcomes", [])
    return found


async def plan_actions_due(
    conn: asyncpg.Connection,
    now: datetime,
    *,
    within: timedelta,
    lead: Filter = None,
    locality: Filter = None,
) -> list[dict]:
    """Open actions of open cases' plans that are overdue or due within `within`, the earliest first, shaped as
    `due`'s rows (kind 'plan_action', `detail` the need): due at the end of their day, London time."""
    where, args = _filters(**{"c.lead_practitioner": lead, "c.locality": locality})
    args += [now, now + within]
    n = len(args)
    rows = await conn.fetch(
        "SELECT c.case_id, c.locality, c.lead_practitioner AS lead, 'plan_action' AS kind, d.due_at, 'pending' AS status,"
        f" d.due_at < ${n - 1} AS overdue, false AS escalated, a.need_code AS detail"
        " FROM plan_actions a JOIN cases c USING (case_id),"
        " LATERAL (SELECT (a.due + 1)::timestamp AT TIME ZONE 'Europe/London' AS due_at) d"
        f" WHERE NOT a.closed AND c.ended_at IS NULL AND d.due_at < ${n}{where} ORDER BY d.due_at, c.case_id",
        *args,
    )
    return [dict(r) for r in rows]


async def tasks(conn: asyncpg.Connection, practitioner: str) -> list[dict]:
    """What a practitioner has to do next: the steps of their cases not done yet (missed ones first, as they fell
    due first), the open actions of their families' plans, and their requests for services."""
    rows = await conn.fetch(
        "SELECT case_id, locality, task, due_at, status, detail FROM tasks WHERE practitioner = $1"
        " ORDER BY due_at NULLS LAST, case_id",
        practitioner,
    )
    return [dict(r) for r in rows]


async def duty_tasks(conn: asyncpg.Connection, localities: Filter = None, limit: int = INBOX_ROWS) -> list[dict]:
    """EH Duty and Advice's tasks: referrals to screen and cases to allocate, due or missed, in `localities`
    (None: every locality), the earliest first (tasks' shape: case_id, locality, task, due_at, status)."""
    where, args = _filters(**{"c.locality": localities})
    rows = await conn.fetch(
        "SELECT c.case_id, c.locality, d.kind AS task, d.due_at, d.status FROM deadlines d JOIN cases c USING (case_id)"
        " WHERE d.kind IN ('screening_decision', 'allocation') AND c.ended_at IS NULL AND d.completed_at IS NULL"
        f" AND (d.status = 'pending' OR d.status = 'missed'){where} ORDER BY d.due_at LIMIT ${len(args) + 1}",
        *args,
        limit,
    )
    return [dict(r) for r in rows]


async def ssd_early_help_episodes(
    conn: asyncpg.Connection, localities: Collection[str] | None = None, sealer: Sealer | None = None
) -> list[dict]:
    """Early help episodes in the Data to Insight Standard Safeguarding Dataset shape.

    One row per child of each case that went beyond screening (or per case if
    no child is recorded): the episode runs from acceptance to the case's end. `localities`: a manager's
    teams (None: every locality). A child's reference is opened with `sealer` (the read model keeps it sealed).
    """
    rows = await conn.fetch(
        "SELECT c.case_id, p.person_ref, p.person_sealed,"
        " c.accepted_at AS earl_episode_start_date, c.ended_at AS earl_episode_end_date,"
        " CASE WHEN c.route = 'step_down' THEN 'step down from social care' ELSE 'referral: ' || c.referrer_agency"
        "  END AS earl_episode_reason,"
        " coalesce(c.end_reason, '') AS earl_episode_end_reason,"
        " c.locality AS earl_episode_organisation, c.lead_practitioner AS earl_episode_worker_id"
        " FROM cases c LEFT JOIN case_people p ON p.case_id = c.case_id AND p.role = 'child'"
        " WHERE c.accepted_at IS NOT NULL AND ($1::text[] IS NULL OR c.locality = ANY($1))",
        None if localities is None else sorted(localities),
    )
    episodes = []
    for r in rows:
        row = dict(r)
        case_id, sealed, ref = row.pop("case_id"), row.pop("person_sealed"), row.pop("person_ref")
        if sealed is not None:  # (rows projected before references were sealed hold them as they were)
            ref = await (sealer or PLAIN).open_text(case_id, sealed)
        episode = {"earl_episode_id": f"{case_id}-{ref}" if ref else case_id, "earl_person_id": ref or case_id}
        episodes.append(episode | row)
    return sorted(episodes, key=lambda e: e["earl_episode_id"])


async def timeline(conn: asyncpg.Connection, case_id: str, sealer: Sealer) -> list[Event]:
    """A case's whole timeline, every run of it (the `timeline` query holds only the current run's latest),
    its personal values opened by `sealer` (worker/sealing.py)."""
    rows = await conn.fetch(
        "SELECT seq, type, at, by_actor, data FROM case_events WHERE case_id = $1 ORDER BY seq", case_id
    )
    return [
        Event(
            seq=r["seq"],
            type=r["type"],
            at=r["at"],
            by=r["by_actor"],
            data=await sealer.open_data(case_id, json.loads(r["data"])),
        )
        for r in rows
    ]


async def saved_up_to(conn: asyncpg.Connection, case_id: str, seq: int, within: float = 5.0) -> bool:
    """Wait (briefly) until the case's events up to `seq` are saved: the engine saves them just after it
    accepts a command (milliseconds). False if they are not there within `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while (await conn.fetchval("SELECT max(seq) FROM case_events WHERE case_id = $1", case_id) or 0) < seq:
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


# --- what the engine sent: messages, letters and referrals to MASH (README "What is sent to whom") ---------


async def messages(conn: asyncpg.Connection, case_id: str, sealer: Sealer) -> list[dict]:
    """A case's messages with their delivery: sent, Notify's status, or why it failed."""
    rows = await conn.fetch(
        "SELECT id, kind, recipient, subject, created_at, sent_at, delivery_status, final_at,"
        " failure FROM notifications WHERE case_id = $1 ORDER BY id",
        case_id,
    )
    return [
        dict(r)
        | {
            "recipient": await sealer.open_text(case_id, r["recipient"]),
            "subject": await sealer.open_text(case_id, r["subject"]),
        }
        for r in rows
    ]


async def documents(conn: asyncpg.Connection, case_id: str) -> list[dict]:
    """A case's letters and forms (their text is opened one at a time: `document`)."""
    rows = await conn.fetch("SELECT id, seq, kind, created_at FROM documents WHERE case_id = $1 ORDER BY id", case_id)
    return [dict(r) for r in rows]


async def document(conn: asyncpg.Connection, case_id: str, document_id: int, sealer: Sealer) -> dict | None:
    row = await conn.fetchrow(
        "SELECT id, seq, kind, text, created_at FROM documents WHERE case_id = $1 AND id = $2", case_id, document_id
    )
    return None if row is None else dict(row) | {"text": await sealer.open_text(case_id, row["text"])}


async def mash_queue(
    conn: asyncpg.Connection,
    sealer: Sealer,
    acknowledged_within: timedelta = timedelta(days=7),
    limit: int = 500,
    locality: Filter = None,
) -> list[dict]:
    """Referrals to MASH: every one waiting for acknowledgement (oldest first), then those acknowledged lately;
    of the `locality` filter's teams only (the MASH team: every locality). Each with the safeguarding concern it
    was made for, where it was one (its words, the children, the category, whether the police were told): MASH
    reads them here, never in an email."""
    where, args = _filters(**{"c.locality": locality})
    rows = await conn.fetch(
        "SELECT m.case_id, m.seq, m.reason, m.referred_at, m.referred_by, m.acknowledged_by, m.acknowledged_at,"
        " m.escalated_at, c.locality, c.lead_practitioner AS lead, concern.data AS concern"
        " FROM mash_referrals m JOIN cases c USING (case_id)"
        # the concern of the same step-up: the latest before the referral with no other step-up between them
        " LEFT JOIN LATERAL (SELECT s.data FROM case_events s WHERE s.case_id = m.case_id"
        "   AND s.type = 'SafeguardingConcernRaised' AND s.seq <= m.seq AND NOT EXISTS (SELECT 1 FROM case_events u"
        "   WHERE u.case_id = m.case_id AND u.type = 'SteppedUp' AND u.seq >= s.seq AND u.seq < m.seq)"
        "   ORDER BY s.seq DESC LIMIT 1) concern ON true"
        f" WHERE (m.acknowledged_at IS NULL OR m.acknowledged_at > now() - ${len(args) + 1}::interval){where}"
        f" ORDER BY m.acknowledged_at IS NOT NULL, m.referred_at LIMIT ${len(args) + 2}",
        *args,
        acknowledged_within,
        limit,
    )
    found = []
    for r in rows:
        concern = await sealer.open_data(r["case_id"], json.loads(r["concern"])) if r["concern"] else None
        found.append(dict(r) | {"reason": await sealer.open_text(r["case_id"], r["reason"]), "concern": concern})
    return found


async def outbox(conn: asyncpg.Connection, locality: Filter = None, limit: int = 200) -> list[dict]:
    """The latest messages of the teams' cases and their delivery (subjects and bodies are not shown here)."""
    where, args = _filters(**{"c.locality": locality})
    args.append(limit)
    rows = await conn.fetch(
        "SELECT n.id, n.case_id, n.kind, n.created_at, n.sent_at, n.delivery_status, n.final_at, n.failure,"
        " c.locality FROM notifications n JOIN cases c USING (case_id)"
        f" WHERE true{where} ORDER BY n.id DESC LIMIT ${len(args)}",
        *args,
    )
    return [dict(r) for r in rows]


# --- finding cases: search, filters, sorting and paging (the web app's lists) ----------------------------

SORTS = {
    "case": "c.case_id",
    "stage": "c.stage",
    "locality": "c.locality",
    "lead": "c.lead_practitioner",
    "received": "c.received_at",
    "deadline": "c.next_deadline",
    "ended": "c.ended_at",
}
PAGE_SIZE = 25


async def find_cases(
    conn: asyncpg.Connection,
    *,
    scope: Filter = None,
    lead_or_scope: str | None = None,
    text: str = "",
    stage: str | None = None,
    locality: str | None = None,
    lead: str | None = None,
    overdue: bool = False,
    awaiting: bool = False,
    closed: bool = False,
    sort: str = "deadline",
    descending: bool = False,
    page: int = 1,
    per_page: int = PAGE_SIZE,
    sealer: Sealer | None = None,
) -> tuple[list[dict], int]:
    """One page of cases and how many match. `scope`: the localities the person sees (None: all), or, with
    `lead_or_scope`, the cases they lead as well. `text` finds a case id (or its start), a family ref or a
    person ref, each by an index (a reference by its blind index: `sealer`). Open cases, or with `closed` the
    cases that ended."""
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = ["c.ended_at IS NOT NULL" if closed else "c.ended_at IS NULL"]
    if scope is not None:
        seen = f"c.locality = ANY({arg(list(scope))})"
        where.append(f"({seen} OR c.lead_practitioner = {arg(lead_or_scope)})" if lead_or_scope else seen)
    if text:  # each by its own index, then together
        t, start = (
            arg((sealer or PLAIN).blind(text)),
            arg(text.replace("\\", "").replace("%", "").replace("_", "\\_") + "%"),
        )
        where.append(
            f"c.case_id IN (SELECT case_id FROM cases WHERE case_id LIKE {start}"
            f" UNION SELECT case_id FROM cases WHERE family_ref = {t}"
            f" UNION SELECT case_id FROM case_people WHERE person_ref = {t})"
        )
    for column, value in (("c.stage", stage), ("c.locality", locality), ("c.lead_practitioner", lead)):
        if value:
            where.append(f"{column} = {arg(value)}")
    if overdue:
        where.append("c.overdue > 0")
    if awaiting:
        where.append("EXISTS (SELECT 1 FROM approvals a WHERE a.case_id = c.case_id AND a.resolution IS NULL)")
    clause = " AND ".join(where)
    total = await conn.fetchval(f"SELECT count(*) FROM cases c WHERE {clause}", *args)
    if closed and sort == "deadline":  # a closed case has no deadline: the latest ended first
        sort, descending = "ended", True
    direction = "DESC NULLS LAST" if descending else "ASC NULLS LAST"
    order = f"{SORTS.get(sort, SORTS['deadline'])} {direction}"
    if sort not in SORTS or sort == "deadline":  # a missed deadline not done comes before any still to come
        order = f"c.overdue > 0 {'ASC' if descending else 'DESC'}, {order}"
    rows = await conn.fetch(
        "SELECT c.case_id, c.route, c.locality, c.stage, c.lead_practitioner AS lead, c.received_at, c.ended_at,"
        " c.final_stage, c.end_reason,"
        " c.next_deadline, c.overdue,"
        " EXISTS (SELECT 1 FROM approvals a WHERE a.case_id = c.case_id AND a.resolution IS NULL) AS awaiting_approval"
        f" FROM cases c WHERE {clause} ORDER BY {order}, c.case_id"
        f" LIMIT {arg(per_page)} OFFSET {arg(max(page - 1, 0) * per_page)}",
        *args,
    )
    return [dict(r) for r in rows], total
