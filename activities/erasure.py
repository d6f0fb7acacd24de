"""Erasing a closed case's personal data (crypto-shredding plus the read model).

The case's data key is destroyed, so its history can no longer be decoded
anywhere; in PostgreSQL only the non-personal facts stay (stage, dates,
locality, outcomes, deadlines), so the statistics still count the case.
"""

from __future__ import annotations

import asyncpg

from worker.codec import destroy_case_key

# Event fields that are facts about the process, never about the family.
PUBLIC_FIELDS = ["route", "locality", "recommendation", "decision", "to", "from", "kind", "due_at", "reminder_at",
                 "completed_at", "escalated_to", "method", "outcome", "time_of_day", "attempt", "visit",
                 "letter_left", "agreement_given", "genogram_started", "children_seen", "scaling", "virtual",
                 "review_date", "next_review_date", "held_at", "approve", "closure_reason", "criteria",
                 "final_stage", "accepted", "previous_referrals", "immediate_safeguarding", "consent_given",
                 "lead_practitioner", "practitioner", "chosen_by_family", "reallocation", "resume_stage", "stage",
                 "service", "services"]
# ...and `reason` where it is a code, not free text.
REASON_IS_A_CODE = ["ClosureRequested", "CaseEnded"]
ERASED = "[erased]"


class NotErasable(Exception):
    pass


async def erase_case(conn: asyncpg.Connection, case_id: str, by: str, reason: str) -> None:
    async with conn.transaction():
        ended = await conn.fetchval("SELECT ended_at FROM cases WHERE case_id = $1 FOR UPDATE", case_id)
        if ended is None:
            known = await conn.fetchval("SELECT count(*) FROM cases WHERE case_id = $1", case_id)
            raise NotErasable(f"case {case_id} is {'still open' if known else 'unknown'}: only closed cases are erased")
        await destroy_case_key(conn, case_id)  # a no-op where payloads were never encrypted
        await conn.execute(
            "UPDATE case_events SET data = coalesce((SELECT jsonb_object_agg(key, value) FROM jsonb_each(data)"
            " WHERE key = any($2::text[]) OR (key = 'reason' AND type = any($3::text[]))), '{}'::jsonb)"
            " WHERE case_id = $1", case_id, PUBLIC_FIELDS, REASON_IS_A_CODE)
        await conn.execute("DELETE FROM case_people WHERE case_id = $1", case_id)
        await conn.execute("UPDATE cases SET referrer_agency = NULL, end_reason = $2 WHERE case_id = $1", case_id,
                           ERASED)
        await conn.execute("UPDATE documents SET text = $2 WHERE case_id = $1", case_id, ERASED)
        await conn.execute("UPDATE notifications SET subject = $2, body = $2, recipient = $2 WHERE case_id = $1",
                           case_id, ERASED)
        await conn.execute("UPDATE mash_referrals SET reason = $2 WHERE case_id = $1", case_id, ERASED)
        await conn.execute("INSERT INTO audit_log (actor, action, case_id, reason) VALUES ($1, 'erase', $2, $3)",
                           by, case_id, reason)


async def audit_trail(conn: asyncpg.Connection, case_id: str | None, by: str | None) -> list[dict]:
    """Who did what to which case: every command's events and every erasure."""
    rows = await conn.fetch(
        "SELECT at, by_actor AS who, type AS what, case_id FROM case_events"
        " WHERE ($1::text IS NULL OR case_id = $1) AND ($2::text IS NULL OR by_actor = $2) AND by_actor <> 'system'"
        " UNION ALL SELECT at, actor, action, case_id FROM audit_log"
        " WHERE ($1::text IS NULL OR case_id = $1) AND ($2::text IS NULL OR actor = $2)"
        " ORDER BY 1", case_id, by)
    return [dict(r) for r in rows]
