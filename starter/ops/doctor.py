"""`earlyhelp doctor`: cases that need ops, found from the server and the case store.

A wedged case is one that cannot make progress by itself: a workflow task
failing again and again (non-determinism after a deploy, or a rule that now
refuses a command the case took before: the workflow cannot mark itself then), an activity retrying past a number of attempts, a
save that can never succeed (the `NeedsAttention` search attribute), or
events the workflow recorded that the case store does not have; and messages whose delivery ended failed on
the service's side in the last week.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryReverseRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from workflows.models import Snapshot

# A workflow task that failed this often, or an activity on this attempt, is not a passing outage.
TASK_ATTEMPTS = 3
ACTIVITY_ATTEMPTS = 10


# What ops do about each problem (docs/operations.md has the procedures).
ACTIONS = {
    "non_determinism": "the deployed code no longer replays this case: roll the worker back, or put the change "
    "under workflow.patched (docs/operations.md, Versioning) and check with `earlyhelp replay`; the task then "
    "retries by itself",
    "workflow_task_failing": "the workflow code fails on this case (a rule that now refuses a command the case "
    "took before, or a bug): roll the worker back or fix and version the code (docs/operations.md, Versioning); "
    "or reset the case to before the failing point (docs/operations.md, Reset)",
    "activity_retrying": "read the worker's log for the activity's error; its retries end at their time limit, "
    "then the case escalates or is marked NeedsAttention",
    "save_impossible": "a save failed with a data error: read the worker's log (case and sqlstate), mend the data "
    "or the schema; the case tries again each hour",
    "events_not_saved": "the case store lacks events the case recorded: check PostgreSQL and the worker's log; "
    "the case saves them at its next save",
    "query_failing": "the case does not answer: check the worker's log for it",
    "delivery_failed": "Notify refused the message, or could not be reached for six hours: its locality's "
    "manager was told (a delivery_failed message); check the Notify API key and Notify's status, then tell the "
    "recipient another way",
}
# Deliveries that ended failed on the service's side (refused, or retries ended), listed for this long.
DELIVERIES_WITHIN_DAYS = 7


@dataclass(frozen=True)
class Finding:
    case_id: str
    problem: str  # a key of ACTIONS
    detail: str

    @property
    def action(self) -> str:
        return ACTIONS[self.problem]


async def _task_failure(client: Client, workflow_id: str) -> tuple[str, str]:
    """The problem and the cause of the case's last failed workflow task, from the end of its history."""
    page = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(
            namespace=client.namespace, execution={"workflow_id": workflow_id}, maximum_page_size=50
        )
    )
    for event in page.history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failed = event.workflow_task_failed_event_attributes
            nondeterministic = (
                failed.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
            )
            problem = "non_determinism" if nondeterministic else "workflow_task_failing"
            return problem, failed.failure.message.splitlines()[0][:300] if failed.failure.message else ""
    return "workflow_task_failing", ""


async def _case(client: Client, pool: asyncpg.Pool, workflow_id: str, lag_ok: bool) -> list[Finding]:
    case_id = workflow_id.removeprefix("case-")
    found: list[Finding] = []
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=client.namespace, execution={"workflow_id": workflow_id})
    )
    task = described.pending_workflow_task
    if described.HasField("pending_workflow_task") and task.attempt >= TASK_ATTEMPTS:
        problem, cause = await _task_failure(client, workflow_id)
        found.append(
            Finding(case_id, problem, f"attempt {task.attempt}: {cause}" if cause else f"attempt {task.attempt}")
        )
    for activity in described.pending_activities:
        if activity.attempt >= ACTIVITY_ATTEMPTS:
            found.append(
                Finding(case_id, "activity_retrying", f"{activity.activity_type.name} attempt {activity.attempt}")
            )
    attributes = described.workflow_execution_info.search_attributes.indexed_fields
    if "NeedsAttention" in attributes and attributes["NeedsAttention"].data == b"true":
        found.append(Finding(case_id, "save_impossible", "a save failed with a data error (see the worker's log)"))
    if found:
        return found  # a wedged case may not answer queries
    try:
        snap: Snapshot = await client.get_workflow_handle(workflow_id).query("snapshot", result_type=Snapshot)
    except RPCError as e:
        return [Finding(case_id, "query_failing", e.message[:200])]
    saved = await pool.fetchval("SELECT coalesce(max(seq), 0) FROM case_events WHERE case_id = $1", case_id)
    unsaved_in_flight = lag_ok and any(a.activity_type.name == "append_events" for a in described.pending_activities)
    if saved < snap.events and not unsaved_in_flight:
        found.append(Finding(case_id, "events_not_saved", f"recorded {snap.events}, saved {saved}"))
    return found


async def examine(client: Client, pool: asyncpg.Pool, query: str | None = None, concurrency: int = 16) -> list[Finding]:
    """Every open case matching `query` (default: every open case)."""
    where = "WorkflowType = 'EarlyHelpCase' AND ExecutionStatus = 'Running'" + (f" AND ({query})" if query else "")
    ids = [w.id async for w in client.list_workflows(where)]
    gate = asyncio.Semaphore(concurrency)

    async def one(workflow_id: str) -> list[Finding]:
        async with gate:
            return await _case(client, pool, workflow_id, lag_ok=True)

    found = [f for found in await asyncio.gather(*(one(i) for i in ids)) for f in found]
    return found + await failed_deliveries(pool, None if query is None else [i.removeprefix("case-") for i in ids])


async def failed_deliveries(pool: asyncpg.Pool, case_ids: list[str] | None) -> list[Finding]:
    """Messages whose delivery ended failed on the service's side lately (not a bounce: Notify's own verdicts
    on an address go to the case's manager), of `case_ids` (None: every case)."""
    rows = await pool.fetch(
        "SELECT id, case_id, kind, failure FROM notifications WHERE failure IS NOT NULL"
        " AND final_at > now() - make_interval(days => $1) AND ($2::text[] IS NULL OR case_id = any($2))"
        " ORDER BY id",
        DELIVERIES_WITHIN_DAYS,
        case_ids,
    )
    return [Finding(r["case_id"], "delivery_failed", f"{r['kind']} message {r['id']}: {r['failure']}") for r in rows]
