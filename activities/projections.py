"""Projections of the read model, derived only from case events.

`project` applies newly saved events to the tables of migration 0002 in the
saving transaction; `rebuild` drops them and applies every event again. Each
event type has one handler here: the only place the read model is written.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime

import asyncpg

from activities import people_index
from worker.sealing import ERASED, PLAIN, Sealer
from workflows.models import Event

Handler = Callable[[asyncpg.Connection, str, Event], Awaitable[None]]
PROJECTION_TABLES = (
    "additional_service_requests",
    "approvals",
    "deadlines",
    "case_people",
    "person_index",
    "plan_actions",
    "cases",
)


async def _referred(conn: asyncpg.Connection, case_id: str, e: Event, sealer: Sealer) -> None:
    """The case, and its people. A family's and a person's reference is kept as its blind index (searched),
    a person's sealed too (for the SSD export): never in the clear."""
    d = e.data
    step_down = d["route"] == "step_down"
    await conn.execute(
        "INSERT INTO cases (case_id, route, locality, stage, recommendation, referrer_agency, previous_referrals,"
        " received_at, accepted_at, last_seq, family_ref) VALUES ($1, $2, $3, 'screening', $4, $5, $6, $7, $8, $9, $10)",
        # .get: an erased case keeps only its non-personal facts (activities/erasure.py)
        case_id,
        d["route"],
        d["locality"],
        d["recommendation"],
        d.get("referrer", {}).get("agency"),
        d["previous_referrals"],
        e.at,
        e.at if step_down else None,
        e.seq,
        sealer.blind(d["family_ref"]) if d.get("family_ref") else None,
    )
    await _people(conn, case_id, d.get("people", []), sealer)


async def _people(conn: asyncpg.Connection, case_id: str, people: list[dict], sealer: Sealer) -> None:
    """Members of the family: by reference (blind, and sealed for the SSD export), and their details' blind
    indexes for finding them (activities/people_index.py)."""
    await conn.executemany(
        "INSERT INTO case_people (case_id, person_ref, role, person_sealed) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        [
            (case_id, sealer.blind(p["person_ref"]), p["role"], await sealer.seal_text(case_id, p["person_ref"]))
            for p in people
        ],
    )
    for person_ref, details in people_index.members_of(people):
        await people_index.index_person(conn, case_id, person_ref, details, sealer)
    await _born(conn, case_id, [p.get("details") for p in people])


async def _born(conn: asyncpg.Connection, case_id: str, details: list[dict | None]) -> None:
    """The year the family's youngest member was born (or is due), for retention (activities/retention.py)."""
    years = [
        int(str(day)[:4]) for d in details if d for day in (d.get("date_of_birth") or d.get("expected_date"),) if day
    ]
    if years:
        await conn.execute(
            "UPDATE cases SET youngest_born_year = greatest(youngest_born_year, $2) WHERE case_id = $1",
            case_id,
            max(years),
        )


# An erased case's events open to their facts alone (no member, no person_ref): nothing of theirs to index.
async def _member_added(conn: asyncpg.Connection, case_id: str, e: Event, sealer: Sealer) -> None:
    if "member" in e.data:
        await _people(conn, case_id, [e.data["member"]], sealer)


async def _details_recorded(conn: asyncpg.Connection, case_id: str, e: Event, sealer: Sealer) -> None:
    if "person_ref" in e.data:
        await people_index.index_person(conn, case_id, e.data["person_ref"], e.data.get("details"), sealer)
        await _born(conn, case_id, [e.data.get("details")])


async def _taf_and_plan(conn: asyncpg.Connection, case_id: str, e: Event, sealer: Sealer) -> None:
    await HANDLERS["TafHeld"](conn, case_id, e)
    await _plan(conn, case_id, e, sealer)


async def _plan(conn: asyncpg.Connection, case_id: str, e: Event, sealer: Sealer) -> None:
    """The plan's actions as they now stand (migration 0019): agreed or updated as a whole; a review closes or
    reopens them by id. An action without an id (a TAF plan of the first version) is keyed by its place."""
    if "actions" in e.data:  # (an erased case keeps no plan)
        await conn.execute("DELETE FROM plan_actions WHERE case_id = $1", case_id)
        await conn.executemany(
            "INSERT INTO plan_actions (case_id, action_key, need_code, due, closed) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT DO NOTHING",
            [
                (
                    case_id,
                    _action_key(a, n, sealer),
                    a["need_code"],
                    date.fromisoformat(a["due"]),
                    bool(a.get("closed")),
                )
                for n, a in enumerate(e.data["actions"])
            ],
        )
    for update in e.data.get("action_updates", []):
        if update.get("closed") is not None:
            await conn.execute(
                "UPDATE plan_actions SET closed = $3 WHERE case_id = $1 AND action_key = $2",
                case_id,
                _action_key(update, -1, sealer),
                update["closed"],
            )


def _action_key(action: dict, place: int, sealer: Sealer) -> str:
    return sealer.blind(action["action_id"]) if action.get("action_id") else f"#{place}"


def _set(sql: str, *fields: str) -> Handler:
    """UPDATE cases SET <sql> with $2.. taken from the event: 'at' or a data field."""

    async def handler(conn: asyncpg.Connection, case_id: str, e: Event) -> None:
        values = [e.at if f == "at" else e.data.get(f) for f in fields]
        await conn.execute(f"UPDATE cases SET {sql} WHERE case_id = $1", case_id, *values)

    return handler


async def _screened(conn: asyncpg.Connection, case_id: str, e: Event) -> None:
    await conn.execute(
        "UPDATE cases SET screening_decision = $2, screened_at = $3,"
        " accepted_at = CASE WHEN $2 = 'accept' THEN $3 ELSE accepted_at END WHERE case_id = $1",
        case_id,
        e.data["decision"],
        e.at,
    )


async def _deadline_set(conn: asyncpg.Connection, case_id: str, e: Event) -> None:
    """The kind's pending deadline cancelled and the new one set, in one statement (a round trip fewer): the
    cancelling UPDATE reads the table as it was before the statement, so it never sees the row inserted."""
    await conn.execute(
        "WITH earlier AS (UPDATE deadlines SET status = 'cancelled'"
        " WHERE case_id = $1 AND kind = $3 AND status = 'pending')"
        " INSERT INTO deadlines (case_id, seq, kind, due_at, status) VALUES ($1, $2, $3, $4, 'pending')",
        case_id,
        e.seq,
        e.data["kind"],
        _time(e.data["due_at"]),
    )


def _deadline(sql: str) -> Handler:
    """Update the latest deadline of the event's kind."""

    async def handler(conn: asyncpg.Connection, case_id: str, e: Event) -> None:
        completed = _time(e.data["completed_at"]) if "completed_at" in e.data else None
        await conn.execute(
            f"UPDATE deadlines SET {sql} WHERE case_id = $1 AND seq = (SELECT max(seq) FROM deadlines"
            " WHERE case_id = $1 AND kind = $2)",
            case_id,
            e.data["kind"],
            completed,
        )

    return handler


async def _closure_requested(conn: asyncpg.Connection, case_id: str, e: Event) -> None:
    await conn.execute(
        "INSERT INTO approvals (case_id, seq, reason, requested_by, requested_at) VALUES ($1, $2, $3, $4, $5)",
        case_id,
        e.seq,
        e.data["reason"],
        e.by,
        e.at,
    )


def _resolve(resolution: str | None) -> Handler:
    async def handler(conn: asyncpg.Connection, case_id: str, e: Event) -> None:
        outcome = resolution or ("approved" if e.data["approve"] else "refused")
        await conn.execute(
            "UPDATE approvals SET resolution = $2, decided_by = $3, decided_at = $4"
            " WHERE case_id = $1 AND resolution IS NULL",
            case_id,
            outcome,
            e.by,
            e.at,
        )

    return handler


async def _rfas(conn: asyncpg.Connection, case_id: str, e: Event) -> None:
    await conn.execute(
        "INSERT INTO additional_service_requests (case_id, seq, service, requested_by, requested_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        case_id,
        e.seq,
        e.data.get("service", ERASED),
        e.by,
        e.at,
    )


async def _ended(conn: asyncpg.Connection, case_id: str, e: Event) -> None:
    await conn.execute(
        "UPDATE cases SET ended_at = $2, final_stage = $3, end_reason = $4 WHERE case_id = $1",
        case_id,
        e.at,
        e.data["final_stage"],
        e.data.get("reason", ERASED),
    )
    await conn.execute(
        "UPDATE deadlines SET case_ended = true,"
        " status = CASE status WHEN 'pending' THEN 'cancelled' ELSE status END WHERE case_id = $1",
        case_id,
    )
    await _resolve("cancelled")(conn, case_id, e)


async def _document_removed(conn: asyncpg.Connection, case_id: str, e: Event) -> None:
    """A removed document's sealed file goes with the save of its removal, whichever door sent it."""
    if "document_id" in e.data:  # (an erased case's: its files went with it)
        await conn.execute(
            "DELETE FROM case_files WHERE case_id = $1 AND document_id = $2", case_id, e.data["document_id"]
        )


HANDLERS: dict[str, Handler] = {
    "ScreeningRecorded": _screened,
    "CaseAllocated": _set(
        "lead_practitioner = $2, allocated_at = coalesce(allocated_at, $3)", "lead_practitioner", "at"
    ),
    "LeadPractitionerIdentified": _set(
        "lead_practitioner = $2, allocated_at = coalesce(allocated_at, $3)", "practitioner", "at"
    ),
    "TafHeld": _set("taf_held_at = coalesce(taf_held_at, $2)", "at"),
    "SupervisionRecorded": _set("last_supervision_at = greatest(last_supervision_at, $2)", "at"),
    "LocalityTransferred": _set("locality = $2", "to"),
    "SteppedUp": _set("stepped_up_at = $2", "at"),
    "MaspReferred": _set("masp_referred_at = $2", "at"),
    "CaseEnded": _ended,
    "DeadlineSet": _deadline_set,
    "DeadlineMet": _deadline("status = 'met', completed_at = $3"),
    "DeadlineMissed": _deadline(
        "status = 'missed', escalated = escalated OR $3::timestamptz IS NULL, completed_at = $3"
    ),
    "DeadlineCompletedLate": _deadline("completed_at = $3"),
    "DeadlineCancelled": _deadline("status = 'cancelled', completed_at = coalesce($3, completed_at)"),
    "DeadlineReminded": _deadline("reminded = true, completed_at = coalesce($3, completed_at)"),
    "ClosureRequested": _closure_requested,
    "ClosureDecided": _resolve(None),
    "ApprovalCancelled": _resolve("cancelled"),
    "AdditionalServiceRequested": _rfas,
    "DocumentRemoved": _document_removed,
}


# What changes a case's next deadline or its count of missed deadlines not done (migration 0011).
# Handlers of events that hold references or details: they write blind indexes and sealed values.
SEALED_HANDLERS: dict[str, Callable[[asyncpg.Connection, str, Event, Sealer], Awaitable[None]]] = {
    "CaseReferred": _referred,
    "FamilyMemberAdded": _member_added,
    "PersonDetailsRecorded": _details_recorded,
    "TafHeld": _taf_and_plan,
    "PlanUpdated": _plan,
    "ReviewHeld": _plan,
}
DEADLINE_EVENTS = frozenset(t for t in HANDLERS if t.startswith("Deadline")) | {"CaseEnded"}


async def project(conn: asyncpg.Connection, case_id: str, events: Iterable[Event], sealer: Sealer) -> None:
    """Apply newly saved events, in order, to the read model (`sealer`: the references' blind indexes)."""
    last, deadlines_changed, stage = 0, False, None
    for e in events:
        if e.type == "StageChanged":  # (no other handler reads the stage: set with the last place, below)
            stage = e.data["to"]
        elif sealed := SEALED_HANDLERS.get(e.type):
            await sealed(conn, case_id, e, sealer)
        elif handler := HANDLERS.get(e.type):
            await handler(conn, case_id, e)
        last = e.seq
        deadlines_changed |= e.type in DEADLINE_EVENTS
    if not last:
        return
    # The case's stage, next deadline, count of missed deadlines not done and last place: one statement, a
    # round trip or two fewer a save.
    deadlines = (
        ", next_deadline = (SELECT min(due_at) FROM deadlines d WHERE d.case_id = $1 AND d.status = 'pending'),"
        " overdue = (SELECT count(*) FROM deadlines d WHERE d.case_id = $1 AND d.status = 'missed'"
        " AND d.completed_at IS NULL)"
        if deadlines_changed
        else ""
    )
    await conn.execute(
        f"UPDATE cases SET last_seq = greatest(last_seq, $2), stage = coalesce($3, stage){deadlines}"
        " WHERE case_id = $1",
        case_id,
        last,
        stage,
    )


async def rebuild(conn: asyncpg.Connection, sealer: Sealer = PLAIN) -> int:
    """Drop the read model and project every saved event again, each opened by `sealer` (an erased case's
    facts only); returns how many cases."""
    cases = 0
    async with conn.transaction():
        await conn.execute(f"TRUNCATE {', '.join(PROJECTION_TABLES)}")
        case_ids = [r["case_id"] for r in await conn.fetch("SELECT DISTINCT case_id FROM case_events ORDER BY 1")]
        for case_id in case_ids:
            await _project_saved(conn, case_id, sealer)
            cases += 1
    return cases


async def rebuild_case(conn: asyncpg.Connection, case_id: str, sealer: Sealer = PLAIN) -> None:
    """One case's read model projected again from its saved events (after a reset replaced some)."""
    for table in PROJECTION_TABLES:
        await conn.execute(f"DELETE FROM {table} WHERE case_id = $1", case_id)
    await _project_saved(conn, case_id, sealer)


async def _project_saved(conn: asyncpg.Connection, case_id: str, sealer: Sealer) -> None:
    rows = await conn.fetch("SELECT * FROM case_events WHERE case_id = $1 ORDER BY seq", case_id)
    await project(conn, case_id, [await opened(event_of(r), case_id, sealer) for r in rows], sealer)


def event_of(row: asyncpg.Record) -> Event:
    data = row["data"]
    return Event(
        seq=row["seq"],
        type=row["type"],
        at=row["at"],
        by=row["by_actor"],
        data=json.loads(data) if isinstance(data, str) else data,
    )


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def opened(event: Event, case_id: str, sealer: Sealer) -> Event:
    return event.model_copy(update={"data": await sealer.open_data(case_id, event.data)})
