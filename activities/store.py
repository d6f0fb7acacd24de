"""The case store: activities that save a case's events and their effects.

One activity, one transaction: the events are inserted with `(case_id, seq)`
as key, and only events new to the table write their effects and update the
read model, so a retried activity never duplicates an event, a notification,
a letter, a referral or a projected row.
"""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import projections
from activities.delivery import delivery
from activities.effects import Document, Effect, MashReferral, Notification, effects_of
from activities.follow_ups import FollowUp, start_follow_ups
from activities.mash import watch
from worker.sealing import PLAIN, Sealer
from workflows.interfaces import CASE_ID_TAKEN, SAVE_IMPOSSIBLE
from workflows.models import Event, MashReferralRef, PreviousCase

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
     ORDER BY seq DESC LIMIT 1) AS lead,
  (SELECT data->>'to' FROM case_events WHERE case_id = $1 AND seq < $2 AND type = 'LocalityTransferred'
     ORDER BY seq DESC LIMIT 1) AS locality
"""


_PREVIOUS_CASES = """
SELECT DISTINCT ON (case_id) case_id, received_at, ended_at, final_stage, matched_on FROM (
  SELECT case_id, received_at, ended_at, final_stage, 'family_ref' AS matched_on, 0 AS rank
  FROM cases WHERE family_ref = $2
  UNION ALL
  SELECT c.case_id, c.received_at, c.ended_at, c.final_stage, 'person_ref', 1
  FROM case_people p JOIN cases c USING (case_id) WHERE p.person_ref = any($3::text[])
) found
WHERE case_id <> $1 AND received_at <= $4
ORDER BY case_id, rank
LIMIT 50
"""

log = structlog.get_logger("earlyhelp.store")

# SQLSTATE classes of data errors: 22 data exception (NUL, out of range), 23 integrity, 42 syntax or schema.
_IMPOSSIBLE_CLASSES = ("22", "23", "42")


def impossible(error: BaseException) -> bool:
    """A save that fails with this will fail the same way for ever."""
    if isinstance(error, asyncpg.PostgresError):
        return (error.sqlstate or "")[:2] in _IMPOSSIBLE_CLASSES
    # Raised while encoding arguments, before anything reaches the server.
    # (asyncpg's own DataError, an argument it cannot encode, is a ValueError.)
    return isinstance(error, (ValueError, TypeError, OverflowError, UnicodeError))


class CaseActivities:
    """`sealer` seals each personal value under the case's key before it reaches PostgreSQL
    (worker/sealing.py); the read model's projections see the events whole."""

    def __init__(self, pool: asyncpg.Pool, sealer: Sealer = PLAIN, deliver: bool = False, watch: bool = False) -> None:
        # Once saved, start each new notification's Delivery (deliver: workflows/delivery.py) and each new MASH
        # referral's watch (watch: workflows/mash.py).
        self.pool, self.sealer, self.deliver, self.watch = pool, sealer, deliver, watch

    @activity.defn
    async def append_events(self, case_id: str, events: list[Event]) -> int:
        """Save events (idempotent); returns how many were new."""
        try:
            return await self._append(case_id, events)
        except Exception as e:
            if not impossible(e):
                raise  # an outage: retried until the database is back
            # Named by type and case only: the error's text may quote a family's data.
            log.error(
                "save impossible",
                case_id=case_id,
                error_type=type(e).__name__,
                sqlstate=getattr(e, "sqlstate", None),
                seqs=f"{events[0].seq}-{events[-1].seq}",
            )
            raise ApplicationError(
                f"save_impossible: {type(e).__name__} (sqlstate {getattr(e, 'sqlstate', '-')})",
                type=SAVE_IMPOSSIBLE,
                non_retryable=True,
            ) from None

    async def _append(self, case_id: str, events: list[Event]) -> int:
        sealed = [json.dumps(await self.sealer.seal_data(case_id, e.type, e.data)) for e in events]
        follow_ups: list[FollowUp] = []
        async with self.pool.acquire() as conn, conn.transaction():
            if events[0].seq == 1 and activity.in_activity():  # (rebuild and tests save outside Temporal)
                await self._claim_case_id(conn, case_id)
            rows = await conn.fetch(
                _INSERT_EVENTS,
                case_id,
                [e.seq for e in events],
                [e.type for e in events],
                [e.at for e in events],
                [e.by for e in events],
                sealed,
            )
            new = {r["seq"] for r in rows}
            if new:
                fresh = [e for e in events if e.seq in new]
                follow_ups = await self._write_effects(conn, case_id, fresh)
                await projections.project(conn, case_id, fresh)
        wanted = [f for f in follow_ups if (self.deliver if f[0] == "Delivery" else self.watch)]
        if wanted and activity.in_activity():
            await start_follow_ups(wanted, wait=False)  # the command's reply does not wait for them
        log.debug("events saved", case_id=case_id, seqs=f"{events[0].seq}-{events[-1].seq}", new=len(new))
        return len(new)

    @activity.defn
    async def previous_cases(
        self, case_id: str, family_ref: str, person_refs: list[str], received_at: datetime
    ) -> list[PreviousCase]:
        """Earlier cases of the same family, or of one of its people, referred before this one [000][002]."""
        rows = await self.pool.fetch(_PREVIOUS_CASES, case_id, family_ref, person_refs, received_at)
        return [
            PreviousCase(
                case_id=r["case_id"],
                received_at=r["received_at"],
                ended_at=r["ended_at"],
                final_stage=r["final_stage"],
                matched_on=r["matched_on"],
            )
            for r in rows
        ]

    async def _claim_case_id(self, conn: asyncpg.Connection, case_id: str) -> None:
        """The first save of a case records its run; any other run's first save is refused."""
        run_id = activity.info().workflow_run_id
        owner = await conn.fetchval(
            "INSERT INTO case_runs (case_id, run_id) VALUES ($1, $2)"
            " ON CONFLICT (case_id) DO UPDATE SET case_id = EXCLUDED.case_id"
            " RETURNING run_id",
            case_id,
            run_id,
        )
        if owner != run_id:
            raise ApplicationError(
                f"case_id_taken: case {case_id} was opened before; a case id is never reused",
                type=CASE_ID_TAKEN,
                non_retryable=True,
            )

    async def _write_effects(self, conn: asyncpg.Connection, case_id: str, events: list[Event]) -> list[FollowUp]:
        ctx = await conn.fetchrow(_CASE_CONTEXT, case_id, events[0].seq)
        referred = await self.sealer.open_data(case_id, json.loads(ctx["referred"])) if ctx["referred"] else {}
        outbox: list[FollowUp] = []
        lead = ctx["lead"]
        if ctx["locality"]:  # the team the case was transferred to hears of it
            referred["locality"] = ctx["locality"]
        for event in events:
            if event.type in ("CaseAllocated", "LeadPractitionerIdentified"):
                lead = event.data.get("lead_practitioner") or event.data.get("practitioner")
            if event.type == "LocalityTransferred":
                referred["locality"] = event.data["to"]
            outbox += await self._write(conn, case_id, event, effects_of(case_id, event, referred, lead))
        return outbox

    async def _write(
        self, conn: asyncpg.Connection, case_id: str, event: Event, effects: list[Effect]
    ) -> list[FollowUp]:
        """Write an event's effects; returns the workflows that follow them up (deliveries, MASH watches)."""
        outbox: list[FollowUp] = []
        for effect in effects:
            match effect:
                case Notification():
                    item = await conn.fetchval(
                        "INSERT INTO notifications (case_id, seq, kind, recipient, subject, body) "
                        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
                        case_id,
                        event.seq,
                        effect.kind,
                        *[
                            await self.sealer.seal_text(case_id, text)
                            for text in (effect.recipient, effect.subject, effect.body)
                        ],
                    )
                    if item is not None:
                        outbox.append(delivery(item))
                case Document():
                    await conn.execute(
                        "INSERT INTO documents (case_id, seq, kind, text) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        case_id,
                        event.seq,
                        effect.kind,
                        await self.sealer.seal_text(case_id, effect.text),
                    )
                case MashReferral():
                    status = await conn.execute(
                        "INSERT INTO mash_referrals (case_id, seq, reason, referred_at, referred_by) "
                        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        case_id,
                        event.seq,
                        await self.sealer.seal_text(case_id, effect.reason),
                        event.at,
                        event.by,
                    )
                    if status.endswith(" 1"):
                        outbox.append(watch(MashReferralRef(case_id=case_id, seq=event.seq)))
        return outbox
