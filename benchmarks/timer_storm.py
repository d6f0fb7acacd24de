"""`python -m benchmarks.timer_storm [--cases N]`: Monday 09:00, when thousands of deadlines fall due at once.

N cases are referred with their screening decision due in the same minute (received one working day
before it), on a worker whose cache (EARLYHELP_MAX_CACHED_CASES, 500 by default) is far smaller than N, so
almost every case is replayed from its history when its timer fires. Measured: the time from that second
until every escalation (DeadlineMissed, saved with its notification for the manager) is in PostgreSQL,
beside N bare timers (`BaselineTimer`: one timer, one activity) due in the same second on the same server,
run first and alone, so that neither storm slows the other.
The engine runs as production does (encrypted, roles checked); Notify is not configured (the messages wait
in the outbox). Writes benchmarks/results/timer-storm-<N>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.db import connect as connect_db
from benchmarks import profile, server_counts
from benchmarks.__main__ import _machine, phase, pooled, servers, start_workers, stop_all, trusted_setup, write_results
from starter.local.samples import sample_referral
from worker.config import Config
from worker.temporal import connect, start_case
from workflows.bank_holidays import LATEST
from workflows.calendar import LONDON, add_working_days, is_working_day

# Starts a second the dev server takes on 2 cores (to place each storm after its last start has run).
START_RATE_GUESS = {"baseline": 60.0, "engine": 25.0}
# Seconds between counts: a count of the dev server's visibility is not free at size (not every 0.2 s there).
POLL = {"large": 5.0, "smoke": 0.5}


def falls_due(due: datetime) -> datetime:
    """When a screening decision can fall due nearest `due` and not after it: `due` itself on a working day; on
    any other day (a weekend, a bank holiday) the last working day's same London time, already past, since a
    deadline counted in working days falls only on one. Then each case escalates as soon as it is referred."""
    day = due.astimezone(LONDON)
    while not is_working_day(day.date(), LATEST):
        day -= timedelta(days=1)
    return day.astimezone(UTC)


def received_for(deadline: datetime) -> datetime:
    """The moment one working day before `deadline` (same London time): a referral received then is due then."""
    back = deadline.astimezone(LONDON) - timedelta(days=1)
    while not is_working_day(back.date(), LATEST):
        back -= timedelta(days=1)
    received = back.astimezone(UTC)
    assert add_working_days(received, 1, LATEST) == deadline.astimezone(LONDON)
    return received


def due_after_starts(n: int, which: str) -> datetime:
    margin = 60 if n >= 1000 else 3  # time to spare after the last start (a smoke run: seconds)
    return (datetime.now(UTC) + timedelta(seconds=n / START_RATE_GUESS[which] + margin)).replace(microsecond=0)


async def until(probe: Any, n: int, within: float = 3600) -> None:
    deadline = time.monotonic() + within
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError("the storm did not finish in time")
        await asyncio.sleep(POLL["large" if n >= 1000 else "smoke"])


async def baseline_storm(client: Client, n: int, procs: dict[str, psutil.Process]) -> dict[str, Any]:
    """N bare timers due in the same second, each then one activity: when the last workflow closed."""
    tag, due = uuid.uuid4().hex[:6], due_after_starts(n, "baseline")
    phase(f"baseline: starting {n} timers, all due at {due:%H:%M:%S} UTC")
    started = time.perf_counter()
    await pooled(
        n,
        16,
        lambda i: client.start_workflow(
            "BaselineTimer",
            args=[f"S{tag}{i:05d}", due.timestamp()],
            id=f"storm-baseline-{tag}-{i}",
            task_queue="storm-baseline",
        ),
    )
    start_seconds, late = time.perf_counter() - started, time.time() - due.timestamp()
    query = f"WorkflowType = 'BaselineTimer' AND WorkflowId STARTS_WITH 'storm-baseline-{tag}-'"

    async def closed() -> bool:
        return (await client.count_workflows(f"{query} AND ExecutionStatus = 'Completed'")).count >= n

    spent: dict[str, float] = {}
    with profile.cpu(procs, spent):
        await until(closed, n)
    last = max([w.close_time async for w in client.list_workflows(query)])
    return {
        "cpu_seconds": spent,
        "server_counts": await server_counts.totals(client, query),
        "start_seconds": round(start_seconds, 1),
        "starts_per_s": round(n / start_seconds, 1),
        "storm_began_late_s": round(max(0.0, late), 1),
        "seconds": round((last - due).total_seconds(), 1),
    }


async def engine_storm(client: Client, pool: Any, n: int, procs: dict[str, psutil.Process]) -> dict[str, Any]:
    """N cases whose screening decision falls due in the same second: when the last escalation
    (DeadlineMissed, saved with its notification for the manager) was saved in PostgreSQL."""
    tag, due = uuid.uuid4().hex[:6], due_after_starts(n, "engine")
    deadline = falls_due(due)  # (`due` itself on a working day)
    received = received_for(deadline)
    if deadline < due:
        phase(f"not a working day: the cases' screening decisions fell due at {deadline:%a %d %b %H:%M} UTC")
    phase(f"engine: starting {n} cases, each screening decision due at {deadline:%H:%M:%S} UTC")
    started = time.perf_counter()
    await pooled(n, 16, lambda i: start_case(client, sample_referral(f"S{tag}{i:05d}", received), "storm-engine"))
    start_seconds = time.perf_counter() - started
    like = f"S{tag}%"

    async def referred() -> bool:  # every case's first task run and its referral saved
        return await pool.fetchval("SELECT count(*) FROM cases WHERE case_id LIKE $1", like) >= n

    await until(referred, n)
    all_referred = datetime.now(UTC)

    async def escalated() -> bool:
        return (
            await pool.fetchval(
                "SELECT count(*) FROM case_events WHERE case_id LIKE $1 AND type = 'DeadlineMissed'"
                " AND data->>'kind' = 'screening_decision'",
                like,
            )
            >= n
        )

    spent: dict[str, float] = {}
    with (
        profile.cpu(procs, spent),
        profile.profiled(procs["engine_worker"].pid, f"timer-storm-{n}-engine-worker") as spied,
    ):
        await until(escalated, n)
    last = await pool.fetchval(
        "SELECT max(recorded_at) FROM case_events WHERE case_id LIKE $1 AND type = 'DeadlineMissed'", like
    )
    escalations = await pool.fetchval(
        "SELECT count(*) FROM notifications WHERE case_id LIKE $1 AND kind = 'escalation'", like
    )
    return {
        "cpu_seconds": spent,
        "server_counts": await server_counts.totals(
            client, "WorkflowType = 'EarlyHelpCase' AND TaskQueue = 'storm-engine'"
        ),
        "engine_worker_profile": profile.summary(spied),
        "start_seconds": round(start_seconds, 1),
        "starts_per_s": round(n / start_seconds, 1),
        "storm_began_late_s": round(max(0.0, (all_referred - due).total_seconds()), 1),
        # Not a working day: the deadlines had passed before the cases were referred, so this is the time from
        # the storm's second to the last escalation made at referral, not a storm of timers (run it on a working day).
        "deadlines_fell_due_at_referral": deadline < due,
        "seconds": round((last - due).total_seconds(), 1),
        "escalations_written": escalations,
    }


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
        # One after the other on the same server, so neither storm slows the other.
        procs_by_name = {
            "engine_worker": engine,
            "baseline_worker": baseline_worker,
            "server": psutil.Process(server.pid),
        }
        if (pg := profile.postgres(work)) is not None:
            procs_by_name["postgres"] = pg
        base = await baseline_storm(baseline, cases, procs_by_name)
        phase(f"baseline: the last of {cases} timers done {base['seconds']} s after the due time")
        rss: list[float] = []
        sampling = asyncio.create_task(sample_rss(engine, rss))
        eng = await engine_storm(client, pool, cases, procs_by_name)
        sampling.cancel()
        phase(f"engine: the last of {cases} escalations saved {eng['seconds']} s after the due time")
        await pool.close()
        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": _machine(),
            "cases": cases,
            "engine": eng,
            "baseline": base,
            "ratio": (
                round(eng["seconds"] / base["seconds"], 2)
                if base["seconds"] > 0 and not eng["deadlines_fell_due_at_referral"]
                else None  # (no storm of timers to compare on a day that is not a working day)
            ),
            "worker_rss_mb_max": round(max(rss or [0]), 1),
            "worker_cache": Config.from_env(engine_env).max_cached_cases,
        }
    finally:
        stop_all(procs, server)


async def sample_rss(process: psutil.Process, into: list[float]) -> None:
    while True:
        into.append(process.memory_info().rss / 2**20)
        await asyncio.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args()
    results = asyncio.run(run(args.cases))
    write_results(f"timer-storm-{args.cases}", results)


if __name__ == "__main__":
    main()
