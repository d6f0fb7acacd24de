"""`python -m benchmarks.open_cases [--cases 100000]`: a county's open cases, held for real.

N cases are referred and left waiting on their durable timers (the screening decision a working day
away), on one engine worker as production runs it (encrypted, roles checked, the default cache of
EARLYHELP_MAX_CACHED_CASES), against the Temporal dev server (SQLite) and embedded PostgreSQL. Measured:
the start rate, the worker's RSS sampled through the run (it should level off once the cache is full, however
many cases are open), the memory a cached case costs, and the server's disk per case. Writes
benchmarks/results/open-cases-<N>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psutil

from activities.db import connect as connect_db
from benchmarks.__main__ import (
    _disk,
    _machine,
    phase,
    pooled,
    referral_for,
    servers,
    start_workers,
    stop_all,
    trusted_setup,
    wait_for,
    write_results,
)
from worker.config import Config
from worker.temporal import connect, start_case


async def run(cases: int, concurrency: int = 16, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    work, database_url, server, env = servers("earlyhelp-open-")
    trusted, _ = trusted_setup(work)
    procs: list[psutil.Popen] = []
    try:
        engine_env, engine, baseline = await start_workers(
            {**env, **(extra_env or {})}, trusted, "open-engine", "open-baseline"
        )
        procs = [engine, baseline]
        pool = await connect_db(database_url)
        client = await connect(Config.from_env(engine_env), pool=pool)
        cache = Config.from_env(engine_env).max_cached_cases
        tag = uuid.uuid4().hex[:6]
        await start_case(client, referral_for("closure", f"OPEN{tag}WARM"), "open-engine")

        async def saved() -> int:
            return await pool.fetchval("SELECT count(*) FROM cases WHERE case_id LIKE $1", f"OPEN{tag}%")

        await wait_for(lambda: _at_least(saved, 1))
        rss_idle = engine.memory_info().rss / 2**20
        disk_before = _disk(work / "temporal.db")
        samples: list[dict[str, float]] = []
        started = time.perf_counter()
        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                samples.append(
                    {
                        "s": round(time.perf_counter() - started, 1),
                        "started": counter["n"],
                        "saved": await saved() - 1,
                        "rss_mb": round(engine.memory_info().rss / 2**20, 1),
                    }
                )
                try:
                    await asyncio.wait_for(done.wait(), 5)
                except TimeoutError:
                    pass

        counter = {"n": 0}

        async def start(i: int) -> None:
            await start_case(client, referral_for("closure", f"OPEN{tag}{i:06d}"), "open-engine")
            counter["n"] += 1
            if counter["n"] % 10_000 == 0:
                phase(f"  {counter['n']} open cases started; worker RSS {engine.memory_info().rss / 2**20:.0f} MB")

        sampler = asyncio.create_task(sample())
        phase(f"starting {cases} cases, each left waiting on its timers (worker cache {cache})")
        start_seconds = await pooled(cases, concurrency, start)
        while await saved() < cases + 1:  # every first task run and its referral saved (counted each 5 s)
            await asyncio.sleep(5)
        all_saved = time.perf_counter() - started
        done.set()
        await sampler
        rss = [s["rss_mb"] for s in samples]
        disk = _disk(work / "temporal.db") - disk_before
        # The first sample once twice the cache's cases have run (the cache full): RSS above idle per cached case.
        full = [s for s in samples if s["saved"] >= 2 * cache] or samples
        await pool.close()
        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": _machine(),
            "cases": cases,
            "worker_cache": cache,
            "worker_env": extra_env or {},
            "start_seconds": round(start_seconds, 1),
            "starts_per_s": round(cases / start_seconds, 1),
            "all_saved_seconds": round(all_saved, 1),
            "worker_rss_mb_idle": round(rss_idle, 1),
            "worker_rss_mb_max": max(rss),
            "worker_rss_mb_end": rss[-1],
            "worker_rss_mb_when_cache_full": full[0]["rss_mb"],
            "kib_per_cached_case": round((full[0]["rss_mb"] - rss_idle) * 1024 / cache, 1),
            # What grew past the cache: bytes a case, from that first sample to the end.
            "bytes_per_case_past_the_cache": round(
                (rss[-1] - full[0]["rss_mb"]) * 2**20 / max(1, cases - full[0].get("saved", 0))
            ),
            "server_disk_kb_per_case": round(disk / 1024 / cases, 2),
            "rss_samples": samples,
        }
    finally:
        stop_all(procs, server)


async def _at_least(count: Any, n: int) -> bool:
    return await count() >= n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set in the worker's environment (e.g. MALLOC_ARENA_MAX=2), to compare",
    )
    args = parser.parse_args()
    extra = dict(kv.split("=", 1) for kv in args.env)
    results = asyncio.run(run(args.cases, extra_env=extra))
    suffix = "".join(f"-{k.lower()}{v}" for k, v in extra.items())
    write_results(f"open-cases-{args.cases}{suffix}", results, leave_out=("rss_samples",))


if __name__ == "__main__":
    main()
