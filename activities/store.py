"""The case store: activities that save a case's events and their effects.

One activity, one transaction: the events are inserted with `(case_id, seq)`
as key, and only events new to the table write their effects and update the
read model, so a retried activity never duplicates an event, a notification,
a letter, a referral or a projected row.
"""

from __future__ import annotations

import json

import asyncpg
import structlog
from temporalio import activity

from activities import projections
from activities.effects import Document, Effect, MashReferral, Notification, effects_of
from workflows.models import Event

_INSERT_EVENTS = """
INSERT INTO case_events (case_id, seq, type, at, by_actor, data)
SELECT $1, e.seq, e.type, e.at, e.by_actor, e.data::jsonb
FROM unnest($2::int[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]) AS e(seq, type, at, by_actor, data)
ON CONFLICT (case_id, seq) DO NOTHING
RETURNING seq
"""
_CASE_CONTEXT = """
SELECT
  (SELECT data FROM case_events WHERE case_id = $1 AND type = 'CaseReferred') AS referred,
  (SELECT coalesce(data->>'lead_practitioner', data->>'practitioner') FROM case_events
     WHERE case_id = $1 AND seq < $2 AND type IN ('CaseAllocated', 'LeadPractitionerIdentified')
     ORDER BY seq DESC LIMIT 1) AS lead
"""


log = structlog.get_logger("earlyhelp.store")


class CaseActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn
    async def append_events(self, case_id: str, events: list[Event]) -> int:
        """Save events (idempotent); returns how many were new."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                _INSERT_EVENTS,
                case_id,
                [e.seq for e in events],
                [e.type for e in events],
                [e.at for e in events],
                [e.by for e in events],
                [json.dumps(e.data) for e in events],
            )
            new = {r["seq"] for r in rows}
            if new:
                fresh = [e for e in events if e.seq in new]
                await self._write_effects(conn, case_id, fresh)
                await projections.project(conn, case_id, fresh)
        log.debug("events saved", case_id=case_id, seqs=f"{events[0].seq}-{events[-1].seq}", new=len(new))
        return len(new)

    async def _write_effects(self, conn: asyncpg.Connection, case_id: str, events: list[Event]) -> None:
        ctx = await conn.fetchrow(_CASE_CONTEXT, case_id, events[0].seq)
        referred = json.loads(ctx["referred"]) if ctx["referred"] else {}
        lead = ctx["lead"]
        for event in events:
            if event.type in ("CaseAllocated", "LeadPractitionerIdentified"):
                lead = event.data.get("lead_practitioner") or event.data.get("practitioner")
            await self._write(conn, case_id, event, effects_of(case_id, event, referred, lead))

    async def _write(self, conn: asyncpg.Connection, case_id: str, event: Event, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case Notification():
                    await conn.execute(
                        "INSERT INTO notifications (case_id, seq, kind, recipient, subject, body) "
                        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                        case_id, event.seq, effect.kind, effect.recipient, effect.subject, effect.body,
                    )
                case Document():
                    await conn.execute(
                        "INSERT INTO documents (case_id, seq, kind, text) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        case_id, event.seq, effect.kind, effect.text,
                    )
                case MashReferral():
                    await conn.execute(
                        "INSERT INTO mash_referrals (case_id, seq, reason, referred_at, referred_by) "
                        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        case_id, event.seq, effect.reason, event.at, event.by,
                    )
