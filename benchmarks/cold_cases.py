"""`python -m benchmarks.cold_cases [--cases N] [--events E]`: a command on a case no worker has in memory.

A case that has run for a year has a long history, and the case a practitioner opens on a Monday is
rarely in the worker's cache: the worker replays its history before it can take the command. N engine cases
are given E commands each (case notes: one update and one save each, as a year of work gives), and N
baseline workflows the same number of updates on the same server; then both workers are restarted, so
nothing is cached, and one more command is sent to each case, timed (cold), then another (hot). Writes
benchmarks/results/cold-cases-<N>x<E>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psutil
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.db import connect as connect_db
from benchmarks.__main__ import (
    BENCH_ROLES,
    _machine,
    phase,
    servers,
    start_workers,
    stop_all,
    trusted_setup,
    write_results,
)
from starter.local import scripts
from starter.local.samples import sample_referral
from starter.local.stack import stop
from worker.config import Config
from worker.identity import SignCommands, Signer, acting_for, local_mint
from worker.temporal import connect, start_case
from workflows.case import EarlyHelpCase
from workflows.models import AddCaseNote, Snapshot

assert "lp-jones" in BENCH_ROLES


async def timed(call: Any) -> float:
    started = time.perf_counter()
    await call
    return (time.perf_counter() - started) * 1000


async def run(cases: int, events: int) -> dict[str, Any]:
    work, database_url, server, env = servers("earlyhelp-cold-")
    trusted, signing_key = trusted_setup(work)
    procs: list[psutil.Popen] = []
    try:
        engine_env, engine, baseline_worker = await start_workers(env, trusted, "cold-engine", "cold-baseline")
        procs = [engine, baseline_worker]
        pool = await connect_db(database_url)
        signing = [SignCommands(local_mint(Signer.from_file(signing_key), lambda: datetime.now(UTC)))]
        client = await connect(Config.from_env(engine_env), pool=pool, interceptors=signing)
        baseline = await Client.connect(env["TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter)
        tag = uuid.uuid4().hex[:6]
        ids = [f"C{tag}{i:03d}" for i in range(cases)]

        async def note(case_id: str, n: int) -> Snapshot:
            acting_for.set(scripts.LEAD)
            handle = client.get_workflow_handle(f"case-{case_id}")
            return await handle.execute_update(
                EarlyHelpCase.add_case_note,
                AddCaseNote(by=scripts.LEAD, text=f"note {n}: called the family", significant=False),
                result_type=Snapshot,
            )

        async def grow(i: int) -> None:
            case_id = ids[i]
            await start_case(client, sample_referral(case_id, datetime.now(UTC)), "cold-engine")

            async def send(update: Any, command: Any) -> Snapshot:
                acting_for.set(command.by)  # each command signed for whoever gives it
                return await client.get_workflow_handle(f"case-{case_id}").execute_update(
                    update, command, result_type=Snapshot
                )

            await scripts.allocated(send)
            await baseline.start_workflow(
                "BaselineCase", args=[case_id, 10**6], id=f"cold-baseline-{case_id}", task_queue="cold-baseline"
            )
            for n in range(events):
                await note(case_id, n)
                await baseline.get_workflow_handle(f"cold-baseline-{case_id}").execute_update("step", n)

        phase(f"growing {cases} cases and {cases} baseline workflows to {events} commands each")
        await asyncio.gather(*(grow(i) for i in range(cases)))
        history = await client.get_workflow_handle(f"case-{ids[0]}").fetch_history()
        base_history = await baseline.get_workflow_handle(f"cold-baseline-{ids[0]}").fetch_history()
        phase("restarting both workers: nothing cached")
        for p in procs:
            stop(p)
        engine_env, engine, baseline_worker = await start_workers(env, trusted, "cold-engine", "cold-baseline")
        procs = [engine, baseline_worker]
        results: dict[str, list[float]] = {"engine_cold": [], "baseline_cold": [], "engine_hot": [], "baseline_hot": []}
        for case_id in ids:  # one at a time: the latency of one command, not the server's throughput
            for temperature in ("cold", "hot"):
                results[f"engine_{temperature}"].append(await timed(note(case_id, events + 1)))
                results[f"baseline_{temperature}"].append(
                    await timed(
                        baseline.get_workflow_handle(f"cold-baseline-{case_id}").execute_update("step", events + 1)
                    )
                )
        await pool.close()

        def p50(name: str) -> float:
            return round(statistics.median(results[name]), 1)

        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": _machine(),
            "cases": cases,
            "commands_per_case": events,
            "engine_history_events": len(history.events),
            "baseline_history_events": len(base_history.events),
            **{f"{name}_p50_ms": p50(name) for name in results},
            "cold_p50_ratio": round(p50("engine_cold") / p50("baseline_cold"), 3),
            "hot_p50_ratio": round(p50("engine_hot") / p50("baseline_hot"), 3),
        }
    finally:
        stop_all(procs, server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--events", type=int, default=40, help="commands given to each case before the test")
    args = parser.parse_args()
    results = asyncio.run(run(args.cases, args.events))
    write_results(f"cold-cases-{args.cases}x{args.events}", results)


if __name__ == "__main__":
    main()
