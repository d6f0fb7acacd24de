"""Ops on case histories: replay against the current code, export, rebuild the read model, chronology.

Temporal's history is the event log of record: every domain event the
workflow recorded travels in the input of an `append_events` activity or in
the answer of a `save_events` local activity (in its marker: patch
save-in-the-workflow-task), so the read model can be rebuilt from the
histories alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import (
    ContinueAsNewInput,
    Interceptor,
    Replayer,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from activities import projections
from worker.codec import CaseErased
from worker.sandbox import workflow_runner
from worker.sealing import Sealer
from workflows.case import WORKFLOW_TYPE, EarlyHelpCase
from workflows.models import Event

ALL_CASES = f"WorkflowType = '{WORKFLOW_TYPE}'"


@dataclass
class ReplayResult:
    workflow_id: str
    run_id: str
    failure: str | None

    @property
    def diverged_at(self) -> str | None:
        """The first diverging event, as the SDK names it (e.g. 'HistoryEvent(id: 5, ActivityTaskScheduled)')."""
        if self.failure is None:
            return None
        match = re.search(r"Nondeterminism error: ([^\"]+)", self.failure)
        return match[1].strip() if match else self.failure.splitlines()[0]


async def server_histories(client: Client, query: str | None) -> AsyncIterator[WorkflowHistory]:
    """Every run (continue-as-new included) of the cases matching a visibility query."""
    clause = ALL_CASES if not query else f"{ALL_CASES} AND ({query})"
    async for history in client.list_workflows(clause).map_histories():
        yield history


async def dir_histories(folder: Path) -> AsyncIterator[WorkflowHistory]:
    """JSON histories as the Temporal CLI (`workflow show --output json`) and Web UI export them."""
    for path in sorted(folder.glob("*.json")):
        yield WorkflowHistory.from_json(path.stem, path.read_text())


@contextmanager
def old_branch_deleted(patch_id: str) -> Iterator[None]:
    """Replay as if the patch's old branch were deleted (`patched` made `deprecate_patch`, the new branch
    always): a history that still needs the old branch then fails. Replays only: the sandbox passes the
    SDK's workflow module through, so this reaches the workflow code."""
    real = workflow.patched

    def new_branch_only(asked: str) -> bool:
        if asked != patch_id:
            return real(asked)
        workflow.deprecate_patch(asked)
        return True

    workflow.patched = new_branch_only  # type: ignore[assignment]
    try:
        yield
    finally:
        workflow.patched = real  # type: ignore[assignment]


class CarriedInputs(Interceptor):
    """What each replayed run continued-as-new with, by run id: replay compares commands, not their input, so
    a change in what a run carries into the next (a deleted old branch, say) is found by comparing this with
    the history's own record of it."""

    def __init__(self) -> None:
        self.carried: dict[str, Any] = {}

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        carried = self.carried

        class Outbound(WorkflowOutboundInterceptor):
            def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
                carried[workflow.info().run_id] = input.args[0]
                super().continue_as_new(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


async def _carried_otherwise(history: WorkflowHistory, replayed: Any, converter: DataConverter) -> str | None:
    """How the replayed run's continue-as-new input differs from the one its history records, if it does."""
    last = history.events[-1]
    if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        return None
    payloads = list(last.workflow_execution_continued_as_new_event_attributes.input.payloads)
    [was] = await converter.decode(payloads, [dict])
    if replayed is None:
        return "the run did not continue as new on replay"
    # Only fields both hold: those the models gained since (derived, with defaults) are not compared.
    if not (fields := _differing(was, replayed.model_dump(mode="json"))):
        return None
    return f"continued as new with other input than recorded (differs in: {', '.join(fields)})"


def _differing(was: Any, now: Any, path: str = "") -> list[str]:
    """The paths at which `now` differs from `was`, in what `was` holds (the first few)."""
    if isinstance(was, dict) and isinstance(now, dict):
        # (a field the model no longer writes, removed or excluded, is not compared either)
        found = [
            d for k in sorted(was.keys() & now.keys()) for d in _differing(was[k], now[k], f"{path}.{k}".lstrip("."))
        ]
    elif isinstance(was, list) and isinstance(now, list) and len(was) == len(now):
        found = [d for i, (a, b) in enumerate(zip(was, now, strict=True)) for d in _differing(a, b, f"{path}[{i}]")]
    else:
        found = [] if was == now else [path or "(all)"]
    return found[:5]


async def replay(
    histories: AsyncIterator[WorkflowHistory],
    converter: DataConverter = pydantic_data_converter,
    progress: Callable[[ReplayResult], None] = lambda r: None,
) -> list[ReplayResult]:
    """Replay each history against the current workflow code with the project's data converter: a run fails
    if it diverges, or if it continues-as-new with another input than it did."""
    inputs = CarriedInputs()
    replayer = Replayer(
        workflows=[EarlyHelpCase], data_converter=converter, workflow_runner=workflow_runner(), interceptors=[inputs]
    )
    results = []

    async def with_commands() -> AsyncIterator[WorkflowHistory]:
        async for history in histories:
            if recorded_a_command(history):
                yield history
            else:  # nothing to compare, and the SDK's replayer never finishes a history of its start alone
                result = ReplayResult(history.workflow_id, history.run_id, None)
                results.append(result)
                progress(result)

    async with replayer.workflow_replay_iterator(with_commands()) as replayed:
        async for outcome in replayed:
            history = outcome.history
            failure = None if outcome.replay_failure is None else str(outcome.replay_failure)
            if failure is None:
                failure = await _carried_otherwise(history, inputs.carried.pop(history.run_id, None), converter)
            result = ReplayResult(history.workflow_id, history.run_id, failure)
            results.append(result)
            progress(result)
    return results


def recorded_a_command(history: WorkflowHistory) -> bool:
    """Whether any workflow task of the run has completed: one that has not (a run just started, or continued
    as new a moment ago) has recorded no command, so no code can diverge from it."""
    return any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in history.events)


async def export(client: Client, query: str, folder: Path) -> list[Path]:
    """Write every run's history as JSON, one file per run: <workflow id>.<run id>.json."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    async for history in server_histories(client, query):
        path = folder / f"{history.workflow_id}.{history.run_id}.json"
        path.write_text(history.to_json())
        written.append(path)
    return written


async def saved_events(history: WorkflowHistory, converter: DataConverter = pydantic_data_converter) -> list[Event]:
    """The domain events the workflow saved in this run: the input of each `append_events` activity, and the
    answer of each `save_events` local activity, in its marker."""
    events: list[Event] = []
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = e.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == "append_events":
                _, batch = await converter.decode(list(attributes.input.payloads), [str, list[Event]])
                events.extend(batch)
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and _saved_in_task(e):
            # (a failed attempt's marker has no result: its events are saved by a later attempt)
            [batch] = await converter.decode(
                list(e.marker_recorded_event_attributes.details["result"].payloads), [list[Event]]
            )
            events.extend(batch)
    return events


def _saved_in_task(event: HistoryEvent) -> bool:
    """A `save_events` local activity's marker that holds its answer (core's marker: its `data` is plain JSON)."""
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != "core_local_activity" or "result" not in marker.details:
        return False
    data = marker.details["data"].payloads
    return bool(data) and json.loads(data[0].data).get("activity_type") == "save_events"


def case_id_of(workflow_id: str) -> str:
    return workflow_id.removeprefix("case-")


async def events_by_case(
    histories: AsyncIterator[WorkflowHistory], converter: DataConverter = pydantic_data_converter
) -> dict[str, list[Event] | None]:
    """Each case's events from its histories; None for an erased case (its history can never be decoded)."""
    cases: dict[str, dict[int, Event] | None] = {}
    async for history in histories:
        case_id = case_id_of(history.workflow_id)
        try:
            decoded = await saved_events(history, converter)
        except CaseErased:
            cases[case_id] = None
            continue
        if (known := cases.setdefault(case_id, {})) is not None:
            known.update((event.seq, event) for event in decoded)
    return {case: None if events is None else [events[seq] for seq in sorted(events)] for case, events in cases.items()}


@dataclass
class Rebuilt:
    cases: int
    events: int
    missing_from_store: int  # events in the histories that case_events lacks
    erased: int = 0  # erased cases, rebuilt from the facts kept of them


async def rebuild(
    conn: asyncpg.Connection, cases: dict[str, list[Event] | None], everything: bool, sealer: Sealer
) -> Rebuilt:
    """Replace the read model's rows of `cases` (of every case if `everything`) with projections of their events.
    An erased case (None) is projected from the non-personal facts case_events keeps of it."""
    async with conn.transaction():
        if everything:
            await conn.execute(f"TRUNCATE {', '.join(projections.PROJECTION_TABLES)}")
        else:
            await conn.execute("DELETE FROM cases WHERE case_id = any($1::text[])", list(cases))
        stored = {
            (r["case_id"], r["seq"])
            for r in await conn.fetch(
                "SELECT case_id, seq FROM case_events WHERE case_id = any($1::text[])", list(cases)
            )
        }
        erased = [case_id for case_id, events in cases.items() if events is None]
        for case_id in erased:
            cases[case_id] = [
                projections.event_of(r)
                for r in await conn.fetch("SELECT * FROM case_events WHERE case_id = $1 ORDER BY seq", case_id)
            ]
        for case_id, events in cases.items():
            await projections.project(conn, case_id, events or [], sealer)
    total = sum(len(events or []) for events in cases.values())
    missing = sum(1 for case_id, events in cases.items() for e in events or [] if (case_id, e.seq) not in stored)
    return Rebuilt(len(cases), total, missing, len(erased))


@dataclass
class Entry:
    """One line of a case's chronology."""

    at: str
    what: str
    by: str
    details: str


async def chronology(
    histories: Iterable[WorkflowHistory], converter: DataConverter = pydantic_data_converter
) -> list[Entry]:
    """Who did what, when, and which deadline was met or missed, from the histories alone."""
    entries: list[Entry] = []
    for n, history in enumerate(histories, start=1):
        started = history.events[0].event_time.ToDatetime().isoformat(timespec="seconds")
        entries.append(Entry(started, f"run {n} started", "temporal", history.run_id))
        for event in await saved_events(history, converter):
            details = {k: v for k, v in event.data.items() if k in DETAIL_KEYS}
            entries.append(
                Entry(
                    event.at.isoformat(timespec="minutes"),
                    event.type,
                    event.by,
                    ", ".join(f"{k}={v}" for k, v in details.items()),
                )
            )
    return entries


DETAIL_KEYS = (
    "to",
    "kind",
    "decision",
    "outcome",
    "lead_practitioner",
    "practitioner",
    "reason",
    "method",
    "time_of_day",
    "approve",
    "criteria",
    "final_stage",
    "due_at",
    "completed_at",
)
