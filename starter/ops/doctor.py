"""`earlyhelp doctor`: cases that need ops, found from the server and the case store.

A wedged case is one that cannot make progress by itself: a workflow task
failing again and again, an activity retrying past a number of attempts, a
save that can never succeed (the `NeedsAttention` search attribute), or
events the workflow recorded that the case store does not have.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError

from workflows.models import Snapshot

# A workflow task that failed this often, or an activity on this attempt, is not a passing outage.
TASK_ATTEMPTS = 3
ACTIVITY_ATTEMPTS = 10


@dataclass(frozen=True)
class Finding:
    case_id: str
    problem: str  # workflow_task_failing, activity_retrying, save_impossible, events_not_saved
    detail: str


async def _case(client: Client, pool: asyncpg.Pool, workflow_id: str, lag_ok: bool) -> list[Finding]:
    case_id = workflow_id.removeprefix("case-")
    found: list[Finding] = []
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=client.namespace, execution={"workflow_id": workflow_id})
    )
    task = described.pending_workflow_task
    if described.HasField("pending_workflow_task") and task.attempt >= TASK_ATTEMPTS:
        found.append(Finding(case_id, "workflow_task_failing", f"attempt {task.attempt}"))
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

    return [f for found in await asyncio.gather(*(one(i) for i in ids)) for f in found]
