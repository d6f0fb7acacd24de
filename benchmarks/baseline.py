"""The bare Temporal baseline: the same number of updates, timers and activities, no domain logic.

`python -m benchmarks.baseline` runs its worker (TEMPORAL_ADDRESS, EARLYHELP_TASK_QUEUE).
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
async def save(case_id: str, steps: list[int]) -> int:
    return len(steps)


@workflow.defn(name="BaselineCase")
class BaselineCase:
    """Waits on a timer, takes `step` updates, saves each batch with one activity, ends on the last step."""

    def __init__(self) -> None:
        self.unsaved: list[int] = []
        self.done = False

    @workflow.run
    async def run(self, case_id: str, steps: int) -> int:
        saved = 0
        while True:
            while self.unsaved:
                batch = list(self.unsaved)
                await workflow.execute_activity(
                    save, args=[case_id, batch], start_to_close_timeout=timedelta(seconds=30)
                )
                del self.unsaved[: len(batch)]
                saved += len(batch)
            if saved >= steps:
                return saved
            try:
                await workflow.wait_condition(lambda: bool(self.unsaved), timeout=timedelta(days=1))
            except asyncio.TimeoutError:
                pass

    @workflow.update
    def step(self, n: int) -> int:
        self.unsaved.append(n)
        return len(self.unsaved)


@workflow.defn(name="BaselineTimer")
class BaselineTimer:
    """The timer storm's baseline: one timer to a moment, then one activity (the engine: a save)."""

    @workflow.run
    async def run(self, case_id: str, due_at: float) -> int:
        await workflow.sleep(max(due_at - workflow.now().timestamp(), 0.0))
        return await workflow.execute_activity(save, args=[case_id, [1]], start_to_close_timeout=timedelta(seconds=30))


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=os.environ.get("EARLYHELP_TASK_QUEUE", "baseline"),
        workflows=[BaselineCase, BaselineTimer],
        activities=[save],
    ):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
