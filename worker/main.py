"""The worker: runs `EarlyHelpCase` workflows and the case store's activities."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.db import connect
from activities.store import CaseActivities
from worker.config import Config
from workflows.case import EarlyHelpCase


def new_worker(client: Client, store: CaseActivities, task_queue: str, **options: Any) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=[EarlyHelpCase], activities=[store.append_events], **options)


async def main(config: Config | None = None) -> None:
    config = config or Config.from_env()
    client = await Client.connect(config.temporal_address, namespace=config.namespace,
                                  data_converter=pydantic_data_converter)
    pool = await connect(config.database_url)
    try:
        await new_worker(client, CaseActivities(pool), config.task_queue).run()
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
