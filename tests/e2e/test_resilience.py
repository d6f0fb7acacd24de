"""Workers and servers fail; cases do not: killed workers, restarted servers, shared queues."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.conftest import Stack, wait_until
from tests.e2e.test_cli_case import case_id, drive_to_closure_pending, refer, saved_events


def test_clients_retrying_through_a_killed_worker_record_each_command_once(stack: Stack):
    """SIGKILL the worker mid-case (its last save may be in flight), and a burst of commands from CLI processes
    while no worker runs: a new worker finishes each; each client sends its command again with the same
    --idempotency-key, as a person would after an error. 0 lost, 0 duplicated, every event saved exactly
    once [DESIGN]."""
    stack.start_worker()
    cases = [case_id() for _ in range(8)]
    for case in cases:
        refer(stack, case)
        stack.cli("record-screening", case, "--by", "das-screener", "--decision", "accept")
        stack.cli("allocate", case, "--by", "das-screener", "--lead-practitioner", "lp-jones")
    earlyhelp = str(Path(sys.executable).parent / "earlyhelp")

    def attempt(case: str) -> int:
        command = [
            earlyhelp,
            "record-contact-attempt",
            case,
            "--by",
            "lp-jones",
            "--method",
            "phone",
            "--outcome",
            "no_answer",
            "--idempotency-key",
            f"burst-{case}",
        ]
        return subprocess.run(command, env={**os.environ, **stack.env}, capture_output=True, timeout=120).returncode

    killed = stack.workers[0][0]
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    with ThreadPoolExecutor(len(cases)) as pool:
        first = [pool.submit(attempt, c) for c in cases]  # in flight while no worker runs
        stack.start_worker()
        results = [f.result() for f in first]
    again = [attempt(c) for c in cases]  # "did that go through?": sent again, same key
    assert again == [0] * len(cases), (results, again)
    for case in cases:
        timeline = stack.cli_json("timeline", case)
        assert [e["type"] for e in timeline].count("ContactAttemptRecorded") == 1, case
        rows = all_saved(stack, case, len(timeline))
        assert [r["seq"] for r in rows] == [e["seq"] for e in timeline] == list(range(1, len(timeline) + 1))


def all_saved(stack: Stack, case: str, count: int) -> list:
    return wait_until(lambda: (r := saved_events(stack.database_url, case)) and len(r) == count and r)


def test_second_worker_takes_over_when_the_first_stops(stack: Stack):
    """Several workers share a task queue; one stopping (SIGTERM, graceful) loses nothing."""
    first = stack.start_worker()
    stack.start_worker()
    case = case_id()
    refer(stack, case)
    first.send_signal(signal.SIGTERM)
    assert first.wait(60) == 0
    assert "worker stopped" in stack.workers[0][1].read_text()
    drive_to_closure_pending(stack, case)
    assert stack.cli_json("approve", case, "--manager", "tm-patel", "--reason", "ok")["stage"] == "closed"


def test_server_restart_keeps_open_cases_and_their_timers(stack: Stack):
    """Stop and restart the dev server on its SQLite file: the case and its TAF timer carry on [003]."""
    stack.start_worker()
    waiting = case_id()
    refer(stack, waiting)  # an open case waiting for screening
    short = case_id()  # and one whose TAF deadline passes while the server is down
    file = stack.folder / "referral.json"
    file.write_text(json.dumps(_referral(short, {"taf_within": "PT6S"})))
    stack.cli("refer", "--file", str(file))
    stack.cli("record-screening", short, "--by", "das-screener", "--decision", "accept")
    snap = stack.cli_json("allocate", short, "--by", "das-screener", "--lead-practitioner", "lp-jones")
    due = datetime.fromisoformat(next(d["due_at"] for d in snap["deadlines"] if d["kind"] == "taf"))
    stack.server.stop()
    wait_until(lambda: datetime.now(UTC) > due, within=30, what="the TAF due time passing while the server is down")
    stack.server.start()
    snap = wait_until(
        lambda: (s := stack.cli_json("status", short)) and _taf(s) == "missed" and s,
        within=90,
        what="the TAF timer firing after the restart",
    )
    assert snap["stage"] == "initial_contact"
    assert stack.cli_json("status", waiting)["stage"] == "screening"
    rows = wait_until(lambda: [r for r in saved_events(stack.database_url, short) if r["type"] == "DeadlineMissed"])
    assert len(rows) == 1


def _taf(snap: dict) -> str:
    return next(d["status"] for d in snap["deadlines"] if d["kind"] == "taf")


def _referral(case: str, policy: dict) -> dict:
    return {
        "case_id": case,
        "received_at": datetime.now(UTC).isoformat(),
        "locality": "East",
        "family": {"family_ref": f"FAM-{case}"},
        "referrer": {"name": "A. Nurse", "agency": "health", "contact": "hv@nhs.example"},
        "needs": [{"code": c, "complex": True} for c in ("health", "housing", "crime")],
        "consent": {"given": True, "recorded_by": "das-screener", "form_ref": "CF-2"},
        "policy": policy,
    }


def test_a_look_up_of_earlier_cases_failing_for_an_hour_marks_the_case_and_tries_again(stack: Stack, monkeypatch):
    """The referral's look-up of earlier cases (a local activity) with the case store down: its attempts end
    after about an hour (here, three), the case is marked NeedsAttention for ops and looks again each hour
    (here, two seconds); once the store is back the case opens with what was found and the mark goes. The
    case never fails. (On the real server: a local activity retries inside its workflow task.)"""
    import asyncio
    from datetime import timedelta

    from temporalio import activity
    from temporalio.common import RetryPolicy
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    import workflows.case
    from activities.db import connect as connect_database
    from activities.store import CaseActivities
    from starter.local.samples import sample_referral
    from worker.config import Config
    from worker.temporal import connect, start_case
    from workflows.case import EarlyHelpCase

    monkeypatch.setattr(
        workflows.case, "LOOKUP_RETRY", RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3)
    )
    monkeypatch.setattr(workflows.case, "RETRY_IMPOSSIBLE_SAVE", timedelta(seconds=2))  # unsandboxed: seen
    case, down = case_id(), [True]

    async def run() -> None:
        client = await connect(Config.from_env(stack.env))
        pool = await connect_database(stack.database_url)
        real = CaseActivities(pool)

        @activity.defn(name="previous_cases")
        async def store_down(
            case_id: str, family_ref: str, person_refs: list[str], received_at: datetime, people: list | None = None
        ) -> list:
            if down[0]:
                raise RuntimeError("connection refused")
            return await real.previous_cases(case_id, family_ref, person_refs, received_at, people)

        async def marked(flag: bool) -> bool:
            query = f"WorkflowId = 'case-{case}' AND NeedsAttention = {'true' if flag else 'false'}"
            return (await client.count_workflows(query)).count == 1

        async def until(probe) -> None:
            deadline = asyncio.get_running_loop().time() + 60
            while not await probe():
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.1)

        try:
            async with Worker(
                client,
                task_queue=stack.task_queue,
                workflows=[EarlyHelpCase],
                activities=[real.save_events, store_down],
                workflow_runner=UnsandboxedWorkflowRunner(),
            ):
                await start_case(client, sample_referral(case, datetime.now(UTC)), stack.task_queue)
                await until(lambda: marked(True))
                assert not await pool.fetchval("SELECT count(*) FROM case_events WHERE case_id = $1", case)
                down[0] = False
                await until(lambda: marked(False))
                handle = client.get_workflow_handle(f"case-{case}")
                described = await handle.describe()
                assert described.status.name == "RUNNING"
                # A case started by the engine's doors is handed to another worker 5 s after its worker dies
                config = described.raw_description.execution_config
                assert config.default_workflow_task_timeout.ToTimedelta() == timedelta(seconds=5)
        finally:
            await pool.close()

    asyncio.run(run())
    assert "PreviousCasesFound" in {r["type"] for r in saved_events(stack.database_url, case)}
