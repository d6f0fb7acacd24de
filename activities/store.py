"""The case store: activities that save a case's events and their effects.

One activity, one transaction: the events are inserted with `(case_id, seq)`
as key, and only events new to the table write their effects and update the
read model, so a retried activity never duplicates an event, a notification,
a letter, a referral or a projected row.

After `temporal workflow reset`, the new run saves its own events at the
places the reset undid: those replace the old run's (in place, so a message
already sent keeps its record), the case's read model is projected again,
and a late save from the run that was reset away is dropped.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import asyncpg
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import people_index, projections
from activities.delivery import delivery
from activities.effects import (
    MAY_HAVE_EFFECTS,
    PLAIN_LETTERHEAD,
    Document,
    Effect,
    Letterhead,
    MashReferral,
    Notification,
    effects_of,
    family_record,
)
from activities.follow_ups import FollowUp, start_follow_ups
from activities.mash import watch
from worker.sealing import PLAIN, Sealer
from workflows.interfaces import CASE_ID_TAKEN, SAVE_IMPOSSIBLE
from workflows.models import Event, MashReferralRef, PreviousCase

_INSERT_EVENTS = """
INSERT INTO case_events (case_id, seq, type, at, by_actor, data, run_id, asked_at)
SELECT $1, e.seq, e.type, e.at, e.by_actor, e.data::jsonb, $7, $8
FROM unnest($2::int[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]) AS e(seq, type, at, by_actor, data)
ON CONFLICT (case_id, seq) DO NOTHING
RETURNING seq
"""
# Another run's events at or after this save's first place: after a reset, the ones it undid.
_OTHER_RUNS = """
SELECT seq, asked_at FROM case_events WHERE case_id = $1 AND seq >= $2 AND run_id IS DISTINCT FROM $3
"""
_REPLACE_EVENTS = """
UPDATE case_events c SET type = e.type, at = e.at, by_actor = e.by_actor, data = e.data::jsonb, run_id = $7,
  asked_at = $8, recorded_at = now()
FROM unnest($2::int[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]) AS e(seq, type, at, by_actor, data)
WHERE c.case_id = $1 AND c.seq = e.seq
"""
# The undone events beyond what the new run has saved, unless a message, letter or referral was made of
# them: those happened, and stay until the new run saves its own event at their place.
_DELETE_UNDONE = """
DELETE FROM case_events c WHERE c.case_id = $1 AND c.seq = any($2::int[])
AND NOT EXISTS (SELECT FROM notifications n WHERE n.case_id = c.case_id AND n.seq = c.seq)
AND NOT EXISTS (SELECT FROM documents d WHERE d.case_id = c.case_id AND d.seq = c.seq)
AND NOT EXISTS (SELECT FROM mash_referrals m WHERE m.case_id = c.case_id AND m.seq = c.seq)
"""


class _StaleRun(Exception):
    """A save asked for by a run before another run of the case saved: the reset-away run's late save."""


_CASE_CONTEXT = """
SELECT
  (SELECT data FROM case_events WHERE case_id = $1 AND type = 'CaseReferred') AS referred,
  (SELECT coalesce(data->>'lead_practitioner', data->>'practitioner') FROM case_events
     WHERE case_id = $1 AND seq < $2 AND type IN ('CaseAllocated', 'LeadPractitionerIdentified')
     ORDER BY seq DESC LIMIT 1) AS lead,
  (SELECT data->>'to' FROM case_events WHERE case_id = $1 AND seq < $2 AND type = 'LocalityTransferred'
     ORDER BY seq DESC LIMIT 1) AS locality,
  (SELECT json_agg(json_build_object('type', type, 'data', data) ORDER BY seq) FROM case_events
     WHERE case_id = $1 AND seq < $2 AND type IN ('PersonDetailsRecorded', 'FamilyMemberAdded')) AS recorded
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

# Earlier cases holding a person whose index rows match every part of one identity (people_index.identities).
_KNOWN_BY_DETAILS = f"""
SELECT DISTINCT c.case_id, c.received_at, c.ended_at, c.final_stage, 'person_details' AS matched_on
FROM ({people_index.HOLDING_EVERY_PART}) matched JOIN cases c USING (case_id)
WHERE c.case_id <> $4 AND c.received_at <= $5
ORDER BY c.case_id
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

    def __init__(
        self,
        pool: asyncpg.Pool,
        sealer: Sealer = PLAIN,
        deliver: bool = False,
        watch: bool = False,
        letterhead: Letterhead = PLAIN_LETTERHEAD,
        dispatch: Callable[[list[int]], None] | None = None,
    ) -> None:
        # Once saved, send each new notification (deliver): by `dispatch` at once from this worker
        # (activities/delivery.py), or else by a Delivery workflow each (workflows/delivery.py); and start each new
        # MASH referral's watch (watch: workflows/mash.py). `letterhead`: who letters to families are from.
        self.pool, self.sealer, self.deliver, self.watch = pool, sealer, deliver, watch
        self.letterhead, self.dispatch = letterhead, dispatch

    @activity.defn
    async def append_events(self, case_id: str, events: list[Event], first_run: str = "") -> int:
        """Save events (idempotent); returns how many were new. `first_run`: the first run of the case's chain
        of runs, which owns its id (an older workflow's save omits it: then its own run, the first then)."""
        try:
            return await self._append(case_id, events, first_run)
        except _StaleRun:
            log.warning("late save of a reset run dropped", case_id=case_id, seqs=f"{events[0].seq}-{events[-1].seq}")
            return 0
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

    @activity.defn
    async def save_events(self, case_id: str, events: list[Event], first_run: str = "") -> list[Event]:
        """append_events in the workflow task (a local activity): answers the events, for the history to keep."""
        await self.append_events(case_id, events, first_run)
        return events

    async def _append(self, case_id: str, events: list[Event], first_run: str = "") -> int:
        await self.sealer.ready(case_id)  # (before the transaction's connection: see Sealer.ready)
        sealed = [json.dumps(await self.sealer.seal_data(case_id, e.type, e.data)) for e in events]
        columns = ([e.seq for e in events], [e.type for e in events], [e.at for e in events], [e.by for e in events])
        # (rebuild and tests save outside Temporal: no run)
        info = activity.info() if activity.in_activity() else None
        run, asked = (info.workflow_run_id, info.scheduled_time) if info else (None, None)
        follow_ups: list[FollowUp] = []
        async with self.pool.acquire() as conn, conn.transaction():
            if events[0].seq == 1 and info:
                await self._claim_case_id(conn, case_id, first_run or info.workflow_run_id)
            rows = await conn.fetch(_INSERT_EVENTS, case_id, *columns, sealed, run, asked)
            new = {r["seq"] for r in rows}
            replaced = set()
            if run and len(new) < len(events):
                replaced = await self._replace_undone(conn, case_id, events, columns, sealed, run, asked)
            if new or replaced:
                fresh = [e for e in events if e.seq in new or e.seq in replaced]
                if any(e.type in MAY_HAVE_EFFECTS for e in fresh):
                    follow_ups = await self._write_effects(conn, case_id, fresh)
                if replaced:
                    await projections.rebuild_case(conn, case_id, self.sealer)
                else:
                    await projections.project(conn, case_id, fresh, self.sealer)
        deliveries = [f for f in follow_ups if f[0] == "Delivery"] if self.deliver else []
        watches = [f for f in follow_ups if f[0] != "Delivery"] if self.watch else []
        if activity.in_activity():
            if deliveries and self.dispatch is not None:
                self.dispatch([item for _, item, _ in deliveries if isinstance(item, int)])  # (a Delivery's is its id)
                deliveries = []
            if deliveries or watches:
                await start_follow_ups([*deliveries, *watches], wait=False)  # the command's reply does not wait
        log.debug("events saved", case_id=case_id, seqs=f"{events[0].seq}-{events[-1].seq}", new=len(new))
        return len(new) + len(replaced)

    async def _replace_undone(
        self,
        conn: asyncpg.Connection,
        case_id: str,
        events: list[Event],
        columns: tuple[list, ...],
        sealed: list[str],
        run: str,
        asked: datetime | None,
    ) -> set[int]:
        """Some places were taken: by this run's own earlier attempt (nothing to do), or by another run's events
        that a reset undid. Those this save replaces, and the undone ones beyond it go; returns the replaced."""
        other = await conn.fetch(_OTHER_RUNS, case_id, events[0].seq, run)
        if not other:
            return set()
        if asked is not None and any(r["asked_at"] is not None and r["asked_at"] > asked for r in other):
            raise _StaleRun()  # rolls back what this save inserted
        places = {e.seq for e in events}
        replaced = {r["seq"] for r in other} & places
        await conn.execute(_REPLACE_EVENTS, case_id, *columns, sealed, run, asked)
        beyond = [r["seq"] for r in other if r["seq"] > events[-1].seq]
        if beyond:
            await conn.execute(_DELETE_UNDONE, case_id, beyond)
        log.warning("events undone by a reset replaced", case_id=case_id, replaced=len(replaced), beyond=len(beyond))
        return replaced

    @activity.defn
    async def previous_cases(
        self,
        case_id: str,
        family_ref: str,
        person_refs: list[str],
        received_at: datetime,
        people: list[dict[str, object]] | None = None,
    ) -> list[PreviousCase]:
        """Earlier cases of the same family, or of one of its people (by reference, or by their details in the
        person index: the same NHS number, UPN, or names and date of birth), referred before this one [000][002]."""
        blind = self.sealer.blind  # the read model holds references as their blind indexes
        rows = await self.pool.fetch(
            _PREVIOUS_CASES, case_id, blind(family_ref), [blind(r) for r in person_refs], received_at
        )
        for parts in people_index.identities([d for d in people or [] if isinstance(d, dict)]):
            known = {r["case_id"] for r in rows}
            by_details = await self.pool.fetch(
                _KNOWN_BY_DETAILS, *people_index.most_telling_first(parts, self.sealer), case_id, received_at
            )
            rows = [*rows, *(r for r in by_details if r["case_id"] not in known)]
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

    async def _claim_case_id(self, conn: asyncpg.Connection, case_id: str, run_id: str) -> None:
        """The first save of a case records its first run; the first save of another chain of runs under the same
        case id is refused. (A reset run belongs to the chain it was reset from.)"""
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
        for earlier in json.loads(ctx["recorded"] or "[]"):  # the family as recorded since (letters' addressee)
            data = await self.sealer.open_data(case_id, earlier["data"])
            family_record(referred, Event(seq=1, type=earlier["type"], at=events[0].at, by="-", data=data))
        for event in events:
            family_record(referred, event)
            if event.type in ("CaseAllocated", "LeadPractitionerIdentified"):
                lead = event.data.get("lead_practitioner") or event.data.get("practitioner")
            if event.type == "LocalityTransferred":
                referred["locality"] = event.data["to"]
            outbox += await self._write(
                conn, case_id, event, effects_of(case_id, event, referred, lead, self.letterhead)
            )
        return outbox

    async def _write(
        self, conn: asyncpg.Connection, case_id: str, event: Event, effects: list[Effect]
    ) -> list[FollowUp]:
        """Write an event's effects; returns the workflows that follow them up (deliveries, MASH watches)."""
        outbox: list[FollowUp] = []
        parts: Counter[str] = Counter()
        for effect in effects:
            match effect:
                case Notification():
                    part = parts[effect.kind]  # the event's first message of its kind, its second (migration 0020)
                    parts[effect.kind] += 1
                    item = await conn.fetchval(
                        "INSERT INTO notifications (case_id, seq, kind, part, recipient, subject, body) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
                        case_id,
                        event.seq,
                        effect.kind,
                        part,
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
