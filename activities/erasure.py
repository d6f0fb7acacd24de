"""Erasing a closed case's personal data (crypto-shredding plus the read model).

The case's data key is destroyed, so its history can no longer be decoded
anywhere; in PostgreSQL only the non-personal facts stay (stage, dates,
locality, outcomes, deadlines), so the statistics still count the case.
"""

from __future__ import annotations

from collections.abc import Collection

import asyncpg

from worker.codec import destroy_case_key
from worker.sealing import CLOSURE_REASONS, ERASED, FACTS, REASON_IS_A_CODE

# Tables whose rows held the case's personal values: vacuumed after an erasure so no dead row version of
# them stays in the table files. (case_keys is rewritten whole: a dead wrapped key with the master key
# would open the case again.)
SCRUBBED = (
    "case_events",
    "cases",
    "case_people",
    "person_index",
    "case_files",
    "retention_reviews",
    "documents",
    "notifications",
    "mash_referrals",
    "additional_service_requests",
)


class NotErasable(Exception):
    pass


async def erase_case(conn: asyncpg.Connection, case_id: str, by: str, reason: str) -> None:
    async with conn.transaction():
        ended = await conn.fetchval("SELECT ended_at FROM cases WHERE case_id = $1 FOR UPDATE", case_id)
        if ended is None:
            known = await conn.fetchval("SELECT count(*) FROM cases WHERE case_id = $1", case_id)
            raise NotErasable(f"case {case_id} is {'still open' if known else 'unknown'}: only closed cases are erased")
        await destroy_case_key(conn, case_id)  # every process's cached key goes when this commits
        await conn.execute(
            "UPDATE case_events SET by_actor = CASE WHEN type = 'CaseReferred' THEN 'referrer' ELSE by_actor END,"
            " data = coalesce((SELECT jsonb_object_agg(key, value) FROM jsonb_each(data)"
            " WHERE key = any($2::text[]) OR (key = 'reason' AND (type = any($3::text[])"
            " OR (type = 'CaseEnded' AND value #>> '{}' = any($4::text[]))))), '{}'::jsonb)"
            " WHERE case_id = $1",
            case_id,
            sorted(FACTS),
            sorted(REASON_IS_A_CODE),
            sorted(CLOSURE_REASONS),
        )
        await conn.execute("DELETE FROM case_people WHERE case_id = $1", case_id)
        await conn.execute("DELETE FROM person_index WHERE case_id = $1", case_id)
        await conn.execute("DELETE FROM case_files WHERE case_id = $1", case_id)  # (unreadable already: its key)
        await conn.execute("DELETE FROM retention_reviews WHERE case_id = $1", case_id)
        await conn.execute(
            "UPDATE cases SET referrer_agency = NULL, family_ref = NULL, youngest_born_year = NULL, end_reason = $2"
            " WHERE case_id = $1",
            case_id,
            ERASED,
        )
        await conn.execute("UPDATE additional_service_requests SET service = $2 WHERE case_id = $1", case_id, ERASED)
        await conn.execute("UPDATE documents SET text = $2 WHERE case_id = $1", case_id, ERASED)
        await conn.execute(
            "UPDATE notifications SET subject = $2, body = $2, recipient = $2 WHERE case_id = $1", case_id, ERASED
        )
        await conn.execute("UPDATE mash_referrals SET reason = $2 WHERE case_id = $1", case_id, ERASED)
        await conn.execute(
            "INSERT INTO audit_log (actor, action, case_id, reason) VALUES ($1, 'erase', $2, $3)", by, case_id, reason
        )
    # At once, not at autovacuum's leisure: the wrapped key's dead row goes with the table's old files.
    await conn.execute("VACUUM FULL case_keys")
    await conn.execute(f"VACUUM {', '.join(SCRUBBED)}")


async def audit_trail(
    conn: asyncpg.Connection, case_id: str | None, by: str | None, localities: Collection[str] | None = None
) -> list[dict]:
    """Who did what to which case: every command's events and every erasure (of the cases in `localities`,
    when given: a manager's teams)."""
    rows = await conn.fetch(
        "SELECT at, who, what, case_id FROM ("
        " SELECT at, by_actor AS who, type AS what, case_id FROM case_events"
        " WHERE ($1::text IS NULL OR case_id = $1) AND ($2::text IS NULL OR by_actor = $2) AND by_actor <> 'system'"
        " UNION ALL SELECT at, actor, action, case_id FROM audit_log"
        " WHERE ($1::text IS NULL OR case_id = $1) AND ($2::text IS NULL OR actor = $2)) trail"
        " WHERE $3::text[] IS NULL OR case_id IN (SELECT case_id FROM cases WHERE locality = ANY($3))"
        " ORDER BY 1",
        case_id,
        by,
        None if localities is None else sorted(localities),
    )
    return [dict(r) for r in rows]
