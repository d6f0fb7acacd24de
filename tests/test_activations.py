"""Workflow activations on the worker's event loop thread (worker/activations.py): no thread hand-off, and an
activation that never yields is still interrupted, its task failed, while the worker serves everything else."""

from __future__ import annotations

import threading
import uuid

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from tests.servers import own_time_skipping_server
from tests.support import eventually
from worker.activations import OnTheLoop
from worker.sandbox import workflow_runner

env = own_time_skipping_server()  # a case whose every task fails would hold up the shared server's clock


@workflow.defn(sandboxed=False)
class WhereItRuns:
    @workflow.run
    async def run(self, spin: bool) -> int:
        while spin:  # a bug: never yields
            pass
        return threading.get_ident()


@pytest.mark.timeout(
    60, method="thread"
)  # (without the watchdog the spinning case holds the event loop: the test never ends)
async def test_activations_run_on_the_loops_thread_and_one_that_never_yields_is_interrupted(env):
    queue = f"activations-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[WhereItRuns],
        workflow_runner=workflow_runner(),
        workflow_task_executor=OnTheLoop(deadlock_seconds=0.5),
    ):
        stuck = await env.client.start_workflow(WhereItRuns.run, True, id=f"spins-{uuid.uuid4()}", task_queue=queue)

        async def its_task_failed() -> str | None:
            async for event in stuck.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failure = event.workflow_task_failed_event_attributes.failure
                    return f"{failure.application_failure_info.type}: {failure.message}"
            return None

        expected = "ActivationDeadlocked: workflow code ran without yielding for longer than the worker allows"
        assert await eventually(its_task_failed) == expected
        # The worker was not wedged: another case runs, on this very thread (the event loop's).
        answer = await env.client.execute_workflow(WhereItRuns.run, False, id=f"runs-{uuid.uuid4()}", task_queue=queue)
        assert answer == threading.get_ident()
        await stuck.terminate("test over")
