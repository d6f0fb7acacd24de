"""`python -m benchmarks.scale_out [--cases N]`: two workers on one task queue, one of them killed under load.

Two engine workers (`python -m worker`, as production runs them, delivery through the local Notify
stand-in on) share the task queue while clients drive N lifecycle cases (the mix of `python -m benchmarks`)
16 at a time. A third of the way through, one worker is killed (SIGKILL: no graceful shutdown). Measured:
how long the commands sent in the 30 s after the kill took (the longest is the handover: a case the dead
worker held waits for the server to give its next task to the other worker), whether every command
was answered and every case ended, whether every event each case recorded is in `case_events` once, and
whether any message reached Notify twice. Writes benchmarks/results/scale-out-<N>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import psutil

from activities.db import connect as connect_db
from activities.delivery import KINDS
from benchmarks.__main__ import (
    Timings,
    _free_port,
    _machine,
    engine_case,
    mix,
    phase,
    pooled,
    servers,
    stop_all,
    temporal_answers,
    trusted_setup,
    wait_for,
    write_results,
)
from starter.local.notify_standin import api_key
from starter.local.stack import notify_standin_key, start_notify_standin
from starter.ops.histories import saved_events
from worker.config import Config
from worker.identity import SignCommands, Signer, local_mint
from worker.temporal import connect

QUEUE = "scale-engine"
AFTER_KILL_SECONDS = 30.0


async def run(cases: int) -> dict[str, Any]:
    work, database_url, server, env = servers("earlyhelp-scale-")
    trusted, signing_key = trusted_setup(work)
    notify_port, notify = _free_port(), notify_standin_key(work)
    procs: list[Any] = [start_notify_standin(work, notify, work / "notify.log", notify_port)]
    trusted |= {
        "EARLYHELP_NOTIFY_API_KEY": api_key(notify["service_id"], notify["secret"]),
        "EARLYHELP_NOTIFY_URL": f"http://127.0.0.1:{notify_port}",
        "EARLYHELP_NOTIFY_TEMPLATES": json.dumps({kind: f"bench-{kind}" for kind in KINDS}),
        "EARLYHELP_TASK_QUEUE": QUEUE,
    }
    try:
        await temporal_answers(env)
        engine_env = {**env, **trusted}
        workers = [psutil.Popen([sys.executable, "-m", "worker"], env=engine_env) for _ in range(2)]
        procs += workers
        pool = await connect_db(database_url)
        signing = [SignCommands(local_mint(Signer.from_file(signing_key), lambda: datetime.now(UTC)))]
        client = await connect(Config.from_env(engine_env), pool=pool, interceptors=signing)
        kinds = mix(cases, seed=29)
        timings = Timings()
        sent_at: list[tuple[float, float]] = []  # (when sent, how long) for every command
        failures: list[str] = []
        ended: list[str] = []
        killed_at: list[float] = []

        class Stamped(list[float]):
            """Each command's round trip, noted with when it was sent (its reply's time less the trip)."""

            def append(self, latency: float) -> None:
                super().append(latency)
                sent_at.append((time.perf_counter() - latency, latency))

        async def case(i: int) -> None:
            case_id = f"SO{i:05d}"
            own = Timings(latencies=Stamped())
            try:
                await engine_case(client, QUEUE, kinds[i], case_id, own)
                ended.append(case_id)
            except Exception as e:  # noqa: BLE001 (counted: a command or a case lost)
                failures.append(f"{case_id}: {type(e).__name__}: {e}"[:300])
            timings.latencies += own.latencies
            timings.commands += own.commands

        async def kill_a_third_of_the_way() -> None:
            while len(ended) < cases // 3:
                await asyncio.sleep(0.2)
            phase(f"killing worker {workers[0].pid} (SIGKILL) with {len(ended)} of {cases} cases ended")
            killed_at.append(time.perf_counter())
            workers[0].send_signal(signal.SIGKILL)

        phase(f"{cases} lifecycle cases, 16 at a time, on two workers")
        killer = asyncio.create_task(kill_a_third_of_the_way())
        elapsed = await pooled(cases, 16, case)
        await killer
        kill = killed_at[0]
        # In flight at the kill or sent in the 30 s after it: how long each waited after the kill (one sent to a
        # case the dead worker held waits until the server gives the case's task to the other worker).
        waited = [
            at + latency - max(at, kill) for at, latency in sent_at if at + latency > kill >= at - AFTER_KILL_SECONDS
        ]
        after = [latency for at, latency in sent_at if kill <= at <= kill + AFTER_KILL_SECONDS]
        before = [latency for at, latency in sent_at if at + latency < kill]

        # Every event each case recorded is saved once; no message went to Notify twice.
        phase("checking what was saved and sent")
        lost_events = 0
        for case_id in ended:  # (from the history, the log of record: no worker needed to answer)
            history = await client.get_workflow_handle(f"case-{case_id}").fetch_history()
            recorded = sorted(e.seq for e in await saved_events(history, client.data_converter))
            seqs = [r["seq"] for r in await pool.fetch("SELECT seq FROM case_events WHERE case_id = $1", case_id)]
            if not recorded or sorted(seqs) != recorded or recorded != list(range(1, len(recorded) + 1)):
                lost_events += 1

        async def all_sent() -> bool:
            return not await pool.fetchval(
                "SELECT count(*) FROM notifications WHERE notify_id IS NULL AND failure IS NULL"
            )

        await wait_for(all_sent, within=600)
        references = Counter(
            json.loads(line)["reference"] for line in (work / "notify-sent.jsonl").read_text().splitlines()
        )
        messages = await pool.fetchval("SELECT count(*) FROM notifications")
        await pool.close()

        def q(values: list[float], p: float) -> float:
            return round(1000 * sorted(values)[min(len(values) - 1, int(p * len(values)))], 1) if values else 0.0

        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": _machine(),
            "cases": cases,
            "commands": timings.commands,
            "seconds": round(elapsed, 1),
            "cases_ended": len(ended),
            "failures": failures,
            "cases_with_events_missing_or_twice": lost_events,
            "messages_written": messages,
            "messages_sent": len(references),
            "messages_sent_twice": sum(1 for n in references.values() if n > 1),
            "before_kill": {"commands": len(before), "p50_ms": q(before, 0.5), "p99_ms": q(before, 0.99)},
            "after_kill_30s": {"commands": len(after), "p50_ms": q(after, 0.5), "p99_ms": q(after, 0.99)},
            # the longest any command waited after the kill, of those in flight then or sent in the 30 s after
            "handover_ms": q(waited, 1.0),
            "commands_waiting_over_1s_after_kill": sum(1 for w in waited if w > 1),
        }
    finally:
        stop_all(procs, server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    args = parser.parse_args()
    write_results(f"scale-out-{args.cases}", asyncio.run(run(args.cases)))


if __name__ == "__main__":
    main()
