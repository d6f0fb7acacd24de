"""Workflows that follow up what a transaction wrote (a notification's Delivery, a MASH referral's watch),
started once it has committed."""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

log = structlog.get_logger("earlyhelp.follow_ups")
# A workflow to start: its type, its argument and its id (the id makes a second start a no-op).
FollowUp = tuple[str, object, str]


_in_flight: set[asyncio.Task[None]] = set()  # background starts, kept referenced until done


async def start_follow_ups(
    starts: list[FollowUp], wait: bool = True, client: Client | None = None, task_queue: str | None = None
) -> None:
    """Start workflows that follow up what a transaction wrote (deliveries, MASH watches), after its commit.
    A start lost here (an outage, a crash) is made by the outbox sweep within a minute: nothing is dropped.
    `wait=False` starts them in the background, so the case's save (and the command waiting on it) does not
    wait for them. Outside an activity (the web app), with its own `client` and the workers' `task_queue`."""
    client = client or activity.client()
    task_queue = task_queue or activity.info().task_queue

    async def start() -> None:
        for workflow_type, arg, workflow_id in starts:
            try:
                await client.start_workflow(
                    workflow_type,
                    arg,
                    id=workflow_id,
                    task_queue=task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
            except Exception as e:  # noqa: BLE001 (an outage: the sweep will start it)
                log.warning("follow-up not started", workflow_id=workflow_id, error_type=type(e).__name__)

    if wait:
        await start()
        return
    task = asyncio.get_running_loop().create_task(start())
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)
