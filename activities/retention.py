"""Retention: when a closed family's record is due for review, and a manager's decision on it.

The rule (configurable: EARLYHELP_RETENTION_AGE, EARLYHELP_RETENTION_YEARS_AFTER_CLOSURE): a closed case is
reviewed once the family's youngest member reaches `review_age` (25 by default, a common council schedule),
counted from the year of birth alone (from the start of the year after); with no date of birth recorded,
`years_after_closure` after it closed. A manager of the case's team then keeps it, until a later review and
with a reason, or erases it (activities/erasure.py). Nothing is erased without that decision.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from activities.erasure import NotErasable, erase_case
from worker.sealing import ERASED
from workflows.bounds import Day, Reason

BASIS_WORDS = {
    "kept": "kept at an earlier review",
    "youngest_member_age": "the youngest member of the family reaches the review age",
    "years_after_closure": "no date of birth recorded: years after closure",
}


class RetentionRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    review_age: int = Field(25, ge=18, le=120)
    years_after_closure: int = Field(6, ge=1, le=100)

    @classmethod
    def configured(cls, config: Any) -> RetentionRule:
        """From worker.config.Config's retention_age and retention_years_after_closure."""
        return cls(review_age=config.retention_age, years_after_closure=config.retention_years_after_closure)


class RetentionDecision(BaseModel):
    """A manager's decision at a retention review: keep (until `review_again_on`) or erase, with a reason."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["keep", "erase"]
    reason: Reason  # (printable text: a NUL or control character is refused by field, never a database error)
    review_again_on: Day | None = Field(None, description="keep: when to review again (required)")


class NotDecidable(Exception):
    pass


async def due_for_review(
    conn: asyncpg.Connection, on: date, rule: RetentionRule, localities: Collection[str] | None = None
) -> list[dict]:
    """Closed cases (of `localities`; None: all) whose review date is on or before `on`, the earliest first."""
    rows = await conn.fetch(
        "SELECT case_id, locality, ended_at AS closed_at, end_reason, review_on, basis, kept_by FROM ("
        " SELECT c.case_id, c.locality, c.ended_at, c.end_reason, r.decided_by AS kept_by,"
        "  CASE WHEN r.case_id IS NOT NULL THEN r.review_on"
        "   WHEN c.youngest_born_year IS NOT NULL THEN make_date(c.youngest_born_year + $2 + 1, 1, 1)"
        "   ELSE ((c.ended_at AT TIME ZONE 'Europe/London') + make_interval(years => $3))::date END AS review_on,"
        "  CASE WHEN r.case_id IS NOT NULL THEN 'kept' WHEN c.youngest_born_year IS NOT NULL"
        "   THEN 'youngest_member_age' ELSE 'years_after_closure' END AS basis"
        " FROM cases c LEFT JOIN retention_reviews r USING (case_id)"
        " WHERE c.ended_at IS NOT NULL AND c.end_reason IS DISTINCT FROM $4"
        "  AND ($5::text[] IS NULL OR c.locality = ANY($5))) due"
        " WHERE review_on <= $1 ORDER BY review_on, case_id",
        on,
        rule.review_age,
        rule.years_after_closure,
        ERASED,
        None if localities is None else sorted(localities),
    )
    return [dict(r) for r in rows]


async def decide(conn: asyncpg.Connection, case_id: str, by: str, wanted: RetentionDecision, today: date) -> str:
    """Keep (until a later review) or erase a closed case; the decision and its reason go to the audit log."""
    if wanted.decision == "erase":
        try:
            await erase_case(conn, case_id, by, f"retention review: {wanted.reason}")
        except NotErasable as e:
            raise NotDecidable(str(e)) from None
        return "erased"
    if wanted.review_again_on is None or wanted.review_again_on <= today:
        raise NotDecidable("review_again_on: keeping a case needs a date to review it again, after today")
    async with conn.transaction():
        ended = await conn.fetchrow("SELECT ended_at, end_reason FROM cases WHERE case_id = $1", case_id)
        if ended is None or ended["ended_at"] is None or ended["end_reason"] == ERASED:
            raise NotDecidable(f"case {case_id} is not a closed case: only closed cases are reviewed")
        await conn.execute(
            "INSERT INTO retention_reviews (case_id, review_on, decided_by) VALUES ($1, $2, $3)"
            " ON CONFLICT (case_id) DO UPDATE SET review_on = $2, decided_by = $3, decided_at = now()",
            case_id,
            wanted.review_again_on,
            by,
        )
        await conn.execute(
            "INSERT INTO audit_log (actor, action, case_id, reason) VALUES ($1, 'retention: kept', $2, $3)",
            by,
            case_id,
            f"review again on {wanted.review_again_on:%-d %B %Y}: {wanted.reason}",
        )
    return "kept"
