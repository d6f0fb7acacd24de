"""Real servers for the tests: an embedded PostgreSQL and Temporal's time-skipping server.

Both start once per test session on loopback (or a local socket) and stop at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.db import connect
from tests import days
from tests.isolation import isolate
from tests.servers import case_worker, embedded_database, time_skipping

HOME = isolate()  # before any test, fixture or subprocess reads HOME (tests/isolation.py)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--day",
        choices=days.DAYS,
        help="move every time-skipping server to the next such day before its first test (tests/days.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    days.start_on = config.getoption("day")


@pytest.fixture(scope="session")
def database_url() -> str:
    return embedded_database()


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
    env = await time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def task_queue(env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[str]:
    async with case_worker(env, pool, "early-help-test") as queue:
        yield queue
