"""Driving a case in tests through the public contract (updates, signal, queries)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from starter.local import scripts
from starter.local.samples import sample_referral
from starter.local.scripts import LEAD, MANAGER, SCREENER  # noqa: F401 (used by the tests)
from workflows.calendar import LONDON
from workflows.case import EarlyHelpCase
from workflows.models import (
    Event,
    NeedProgress,
    RecordReview,
    Referral,
    Snapshot,
)


def new_case_id() -> str:
    return f"T{uuid.uuid4().hex[:10]}"


def london(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LONDON)


async def eventually(probe: Any, within: float = 30.0) -> Any:
    """Poll `probe` until it returns something truthy (a condition, not a fixed sleep)."""
    deadline = asyncio.get_running_loop().time() + within
    while not (result := await probe()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.05)
    return result


# Events a completed workflow task writes (its commands): after them alone, the workflow waits.
_COMMANDS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    EventType.EVENT_TYPE_TIMER_CANCELED,
}


async def idle(handle: WorkflowHandle[Any, Any]) -> str | None:
    """'idle' once the case's current run waits with nothing in flight, 'closed' once it ended, else None. The
    time-skipping server's describe never shows a pending workflow task, so the history says: idle once the last
    task's commands are its last events and no activity is pending."""
    # (raw: the SDK cannot decode the null Datetime the time-skipping server keeps for a search attribute
    # upserted empty, as a case with no deadline pending has; a real server removes it)
    described = await handle._client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=handle._client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        )
    )
    if described.workflow_execution_info.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
        return "closed"
    if described.pending_activities:
        return None
    current = handle._client.get_workflow_handle(handle.id)  # (the current run, whichever it is)
    events = (await current.fetch_history()).events
    tasks = [i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    if not tasks:
        return None  # a run just begun (continued as new): its first task is still to come
    return "idle" if all(e.event_type in _COMMANDS for e in events[tasks[-1] :]) else None


async def end(handle: WorkflowHandle[Any, Any], reason: str = "test over") -> None:
    """Terminate a test's workflow once nothing of it is in flight (`idle`). The time-skipping test server leaks
    its time-skipping lock when a workflow closes while one of its workflow tasks or activities is running (the
    task's completion is refused), and from then on nothing on that server moves in time: the next
    `env.sleep` hangs until the RPC gives up ("Timeout expired"). The server's time stands still meanwhile, so an
    idle workflow stays idle."""
    try:
        state = await eventually(lambda: idle(handle))
    except AssertionError:  # busy for good (a test that failed): end it all the same
        state = "busy"
    if state != "closed":
        await handle.terminate(reason)


class Case:
    def __init__(self, env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], case_id: str) -> None:
        self.env, self.handle, self.case_id = env, handle, case_id
        self.referral: Referral | None = None

    @classmethod
    async def start(
        cls, env: WorkflowEnvironment, task_queue: str, referral: Referral | None = None, **kw: Any
    ) -> Case:
        if referral is None:
            referral = sample_referral(new_case_id(), await env.get_current_time(), **kw)
        await env.client.start_workflow(
            EarlyHelpCase.run, referral, id=f"case-{referral.case_id}", task_queue=task_queue
        )
        # No run id: updates and queries follow the case across continue-as-new.
        case = cls(
            env, env.client.get_workflow_handle_for(EarlyHelpCase.run, f"case-{referral.case_id}"), referral.case_id
        )
        case.referral = referral
        await case.opened()
        return case

    async def opened(self) -> None:
        """A new case looks up the family's earlier cases first (an activity): wait for its answer."""

        async def looked_up() -> bool:
            try:
                return any(e.type == "PreviousCasesFound" for e in await self.timeline())
            except Exception:  # noqa: BLE001 (a refused referral has no timeline: nothing to wait for)
                return True

        await eventually(looked_up)

    async def now(self) -> datetime:
        return (await self.env.get_current_time()).astimezone(LONDON)

    async def do(self, update: Any, command: Any) -> Snapshot:
        return await self.handle.execute_update(update, command, result_type=Snapshot)

    async def snapshot(self) -> Snapshot:
        """Asked again (a read) if the server gave up waiting for the worker: on a loaded 2-core machine a query
        sent as a case continues as new can wait past the server's deadline for the new run's first task."""
        for _ in range(2):
            try:
                return await self.handle.query(EarlyHelpCase.snapshot)
            except RPCError as e:
                if e.status != RPCStatusCode.DEADLINE_EXCEEDED:
                    raise
        return await self.handle.query(EarlyHelpCase.snapshot)

    async def timeline(self) -> list[Event]:
        return await self.handle.query(EarlyHelpCase.timeline)

    async def updates_in_history(self) -> set[str]:
        """Ids of the updates written to the current run's history (a rejected one never is)."""
        history = await self.handle.fetch_history()
        return {
            e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
            for e in history.events
            if e.HasField("workflow_execution_update_accepted_event_attributes")
        }

    async def rejected(self, update: Any, command: Any) -> str:
        """Send a command that must be refused; check nothing changed; return the rule's message."""
        before = (await self.snapshot(), await self.timeline())
        update_id = f"rejected-{uuid.uuid4().hex}"
        try:
            await self.handle.execute_update(update, command, id=update_id, result_type=Snapshot)
        except WorkflowUpdateFailedError as e:
            assert isinstance(e.cause, ApplicationError), e.cause
            assert e.cause.type in ("RuleBroken", "InvalidCommand"), e.cause
            message = e.cause.message
        else:
            raise AssertionError(f"{command!r} was accepted")
        assert (await self.snapshot(), await self.timeline()) == before, "a rejected command changed the case"
        assert update_id not in await self.updates_in_history()
        return message

    async def current_run(self) -> str:
        # The raw call: the test server encodes datetime search attributes in a way describe() cannot decode.
        client = self.env.client
        response = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=self.handle.id)
            )
        )
        return response.workflow_execution_info.execution.run_id

    async def runs(self) -> list[str]:
        """The case's run ids, first to last, following continue-as-new back from the current run."""
        runs: list[str] = []
        run_id = await self.current_run()
        while run_id:
            runs.insert(0, run_id)
            history = await self.env.client.get_workflow_handle(self.handle.id, run_id=run_id).fetch_history()
            run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        return runs

    async def histories(self) -> list[WorkflowHistory]:
        return [
            await self.env.client.get_workflow_handle(self.handle.id, run_id=r).fetch_history()
            for r in await self.runs()
        ]

    async def stage(self) -> str:
        return (await self.snapshot()).stage

    async def wait_saved(self, pool: Any) -> list[dict[str, Any]]:
        """The case's events in PostgreSQL once the workflow has saved all it has recorded."""
        recorded = (await self.snapshot()).events

        async def saved() -> list[Any] | None:
            rows = await pool.fetch("SELECT * FROM case_events WHERE case_id = $1 ORDER BY seq", self.case_id)
            return rows if len(rows) >= recorded else None

        return [dict(r) for r in await eventually(saved)]

    # --- well-trodden paths (starter/local/scripts.py) ---

    async def allocated(self) -> Snapshot:
        return await scripts.allocated(self.do)

    async def in_plan(self) -> Snapshot:
        return await scripts.in_plan(self.do, self.now)

    async def reviewed(self, status: str, next_in: timedelta = timedelta(weeks=12)) -> Snapshot:
        """Hold the next review at 10:00 on its agreed date, giving every need `status`."""
        snap = await self.snapshot()
        due = next(d.due_at for d in snap.deadlines if d.kind == "review" and d.status == "pending")
        held = london(due.astimezone(LONDON).date(), 10)
        # Subtract in UTC: two Europe/London datetimes subtract by wall clock across a DST change.
        await self.env.sleep(max(held.astimezone(UTC) - (await self.now()).astimezone(UTC), timedelta(0)))
        reviewed = await self.do(
            EarlyHelpCase.record_review,
            RecordReview(
                by=LEAD,
                held_at=held,
                progress=[NeedProgress(need_code=n.code, status=status) for n in snap.needs],
                next_review_date=held.date() + next_in,
            ),
        )
        # A review may be where the case continues as new: the next query or time skip waits until it has (one
        # sent while it does waits on the test server, and under load the server dropped its connection).
        await eventually(lambda: idle(self.handle))
        return reviewed

    async def closure_requested(self, reason: str = "needs_met") -> Snapshot:
        return await scripts.closure_requested(self.do, await self.snapshot(), reason)
