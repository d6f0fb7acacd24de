"""`python -m benchmarks.timer_storm [--cases N]`: Monday 09:00, when thousands of deadlines fall due at once.

N cases are referred with their screening decision due in the same minute (received one working day
before it), on a worker whose cache (EARLYHELP_MAX_CACHED_CASES, 500 by default) is far smaller than N, so
almost every case is replayed from its history when its timer fires. Measured: the time from that minute
until every escalation (DeadlineMissed, saved with its notification for the manager) is in PostgreSQL,
beside N bare timers (`BaselineTimer`: one timer, one activity) due in the same minute on the same server.
The engine runs as production does (encrypted, roles checked); Notify is not configured (the messages wait
in the outbox). Writes benchmarks/results/timer-storm-<N>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.db import connect as connect_db
from benchmarks.__main__ import _machine, phase, servers, start_workers, trusted_setup, wait_for
from starter.local.samples import sample_referral
from starter.local.stack import stop
from worker.config import Config
from worker.temporal import connect, start_case
from workflows.calendar import LONDON, add_working_days, is_working_day

HERE = Path(__file__).parent
START_RATE_GUESS = 40.0  # cases a second the dev server starts on 2 cores (to place the storm after them)


def received_for(due: datetime) -> datetime:
    """The moment one working day before `due` (same London time): a referral received then is due then."""
    day = due.astimezone(LONDON)
    back = day - timedelta(days=1)
    while not is_working_day(back.date()):
        back -= timedelta(days=1)
    received = back.astimezone(UTC)
    assert add_working_days(received, 1) == due.astimezone(LONDON)
    return received


async def start_all(client: Client, baseline: Client, n: int, due: datetime, concurrency: int = 16) -> float:
    received = received_for(due)
    tag = uuid.uuid4().hex[:6]
    todo = iter(range(n))
    started = time.perf_counter()

    async def starter() -> None:
        for i in todo:
            referral = sample_referral(f"S{tag}{i:05d}", received)
            await start_case(client, referral, "storm-engine")
            await baseline.start_workflow("BaselineTimer", args=[f"S{tag}{i:05d}", due.timestamp()],
                                          id=f"storm-baseline-{tag}-{i}", task_queue="storm-baseline")

    await asyncio.gather(*(starter() for _ in range(concurrency)))
    return time.perf_counter() - started


async def run(cases: int) -> dict[str, Any]:
    work, database_url, server, env = servers("earlyhelp-storm-")
    trusted, _ = trusted_setup(work)
    procs: list[psutil.Popen] = []
    try:
        engine_env, engine, baseline_worker = await start_workers(env, trusted, "storm-engine", "storm-baseline")
        procs = [engine, baseline_worker]
        pool = await connect_db(database_url)
        client = await connect(Config.from_env(engine_env), pool=pool)
        baseline = await Client.connect(env["TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter)
        margin = 90 if cases >= 1000 else 10  # after every start, with time to spare (a smoke run: seconds)
        due = (datetime.now(UTC) + timedelta(seconds=cases / START_RATE_GUESS + margin)).replace(microsecond=0)
        phase(f"starting {cases} cases and {cases} baseline timers, all due at {due:%H:%M:%S} UTC")
        start_seconds = await start_all(client, baseline, cases, due)
        late = max(0.0, time.time() - due.timestamp())
        phase(f"started in {start_seconds:.0f} s; the storm{' began before the last start' if late else ''}")

        async def engine_done() -> bool:
            return await pool.fetchval("SELECT count(*) FROM case_events WHERE type = 'DeadlineMissed'"
                                       " AND data->>'kind' = 'screening_decision'") >= cases

        async def baseline_done() -> bool:
            found = await baseline.count_workflows("WorkflowType = 'BaselineTimer' AND ExecutionStatus = 'Completed'")
            return found.count >= cases

        finished: dict[str, float] = {}

        async def watch(name: str, probe: Any) -> None:
            await wait_for(probe, within=3600)
            finished[name] = time.time()

        rss = []

        async def sample_rss() -> None:
            while len(finished) < 2:
                rss.append(engine.memory_info().rss / 2**20)
                await asyncio.sleep(1)

        await asyncio.gather(watch("engine", engine_done), watch("baseline", baseline_done), sample_rss())
        engine_s, baseline_s = finished["engine"] - due.timestamp(), finished["baseline"] - due.timestamp()
        escalations = await pool.fetchval("SELECT count(*) FROM notifications WHERE kind = 'escalation'")
        await pool.close()
        return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": _machine(), "cases": cases,
                "start_seconds": round(start_seconds, 1), "starts_per_s": round(cases / start_seconds, 1),
                "storm_began_late_s": round(late, 1), "engine_seconds": round(engine_s, 1),
                "baseline_seconds": round(baseline_s, 1), "ratio": round(engine_s / baseline_s, 2) if baseline_s else None,
                "escalations_written": escalations, "worker_rss_mb_max": round(max(rss or [0]), 1),
                "worker_cache": Config.from_env(engine_env).max_cached_cases}
    finally:
        for p in procs:
            stop(p)
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args()
    results = asyncio.run(run(args.cases))
    path = HERE / "results" / f"timer-storm-{args.cases}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
