"""`python -m worker` needs only the workflow API: on Temporal's time-skipping test server, which has no
Schedules, it says so once and runs cases."""

from __future__ import annotations

import uuid

from starter.local.stack import start_worker, stop
from tests.servers import own_time_skipping_server
from tests.support import Case, end, eventually

env = own_time_skipping_server()  # the worker's queue goes with the process


async def test_the_worker_runs_cases_on_a_server_without_schedules(env, database_url, pool, tmp_path):
    queue, log = f"process-{uuid.uuid4().hex[:8]}", tmp_path / "worker.log"
    worker = start_worker(
        {
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "EARLYHELP_TASK_QUEUE": queue,
            "DATABASE_URL": database_url,
            "EARLYHELP_OPEN_DEMO": "true",
            "EARLYHELP_METRICS_PORT": "0",
        },
        log,
    )
    try:
        await eventually(lambda: _logged(log, "worker started"), within=60)
        case = await Case.start(env, queue)
        assert len(await case.wait_saved(pool)) >= 1
        await end(case.handle)
    finally:
        stop(worker)
    text = log.read_text()
    assert text.count("schedules not created") == 1 and "earlyhelp schedules --create" in text
    assert "Traceback" not in text and worker.returncode == 0


async def _logged(log, line: str) -> bool:
    return log.exists() and line in log.read_text()
