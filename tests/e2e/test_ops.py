"""Ops on the dev server: replay before a deploy, export histories, rebuild the read model from them."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from starter.local.samples import sample_referral
from starter.local.stack import BIN
from tests.e2e.conftest import Stack, wait_until
from tests.e2e.test_cli_case import case_id, drive_to_closure_pending, refer, saved_events
from tests.stricter import RULE, RefusesAllocation
from worker.config import Config
from worker.sandbox import workflow_runner
from worker.temporal import connect, start_case
from workflows.case import EarlyHelpCase
from workflows.interfaces import SAVE_IMPOSSIBLE
from workflows.models import Event


@activity.defn(name="save_events")
async def impossible(case_id: str, events: list[Event], first_run: str = "") -> list[Event]:
    """A case store for which every save is a data error."""
    raise ApplicationError("save_impossible: test", type=SAVE_IMPOSSIBLE, non_retryable=True)


@activity.defn(name="previous_cases")
async def no_previous_cases(
    case_id: str, family_ref: str, person_refs: list[str], received_at: str, people: list | None = None
) -> list:
    return []


TABLES = {"cases": "case_id", "deadlines": "case_id, seq", "approvals": "case_id, seq", "case_people": "case_id"}


def read_model(database_url: str, cases: list[str]) -> dict[str, list[dict]]:
    async def fetch() -> dict[str, list[dict]]:
        conn = await asyncpg.connect(database_url)
        try:
            return {
                table: [
                    dict(r)
                    for r in await conn.fetch(
                        f"SELECT * FROM {table} WHERE case_id = any($1::text[]) ORDER BY {order}", cases
                    )
                ]
                for table, order in TABLES.items()
            }
        finally:
            await conn.close()

    return asyncio.run(fetch())


GOLDEN = Path(__file__).parent.parent / "histories"


def test_rebuild_from_histories_equals_the_live_read_model(stack: Stack):
    """`earlyhelp rebuild` drops the read model and rebuilds it from histories: the same rows [DESIGN]."""
    stack.start_worker()
    cases = []
    for n in range(4):
        case = case_id()
        refer(stack, case)
        if n % 2:
            drive_to_closure_pending(stack, case)
        if n == 3:
            stack.cli("approve", case, "--manager", "tm-patel", "--reason", "met")
        cases.append(case)
    for case in cases:
        timeline = stack.cli_json("timeline", case)
        wait_until(lambda c=case, t=timeline: len(saved_events(stack.database_url, c)) == len(t))
    live = read_model(stack.database_url, cases)
    assert len(live["cases"]) == 4 and live["approvals"]
    result = stack.cli("rebuild", "--query", f"TaskQueue = '{stack.task_queue}'")
    assert "Rebuilt the read model of 4 cases" in result.output
    assert read_model(stack.database_url, cases) == live


def test_export_then_replay_round_trip_and_a_temporal_cli_export(stack: Stack, tmp_path):
    """Histories exported by `earlyhelp history export` and by `temporal workflow show --output json` replay."""
    stack.start_worker()
    case = case_id()
    refer(stack, case)
    drive_to_closure_pending(stack, case)
    exported = tmp_path / "export"
    assert "Wrote 1 histories" in stack.cli("history", "export", case, "--out", str(exported)).output
    replayed = stack.cli("replay", "--dir", str(exported))
    assert "Replayed 1 histories: 1 ok, 0 non-deterministic" in replayed.output
    cli_dir = tmp_path / "temporal-cli"
    cli_dir.mkdir()
    shown = subprocess.run(
        [
            str(BIN / "temporal"),
            "workflow",
            "show",
            "--workflow-id",
            f"case-{case}",
            "--address",
            stack.server.address,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    (cli_dir / f"case-{case}.json").write_text(shown.stdout)
    assert json.loads(shown.stdout)["events"]
    assert "1 ok" in stack.cli("replay", "--dir", str(cli_dir)).output
    from_server = stack.cli("replay", "--query", f"TaskQueue = '{stack.task_queue}'")
    assert "0 non-deterministic" in from_server.output


def test_a_broken_history_is_reported_and_fails_the_replay(stack: Stack, tmp_path):
    """A history the current code cannot replay is named, with exit code 1."""
    stack.start_worker()
    case = case_id()
    refer(stack, case)
    stack.cli("record-screening", case, "--by", "das", "--decision", "accept")
    stack.cli("history", "export", case, "--out", str(tmp_path))
    path = next(tmp_path.glob("*.json"))
    history = json.loads(path.read_text())
    # Drop the first local activity the workflow ran (its look-up or save, by its marker) and what follows:
    # the code will ask for one the history lacks.
    events = history["events"]
    first_activity = next(
        i
        for i, e in enumerate(events)
        if e.get("markerRecordedEventAttributes", {}).get("markerName") == "core_local_activity"
    )
    del events[first_activity:]
    events.append(
        {
            **events[-1],
            "eventId": str(int(events[-1]["eventId"]) + 1),
            "eventType": "EVENT_TYPE_TIMER_STARTED",
            "timerStartedEventAttributes": {
                "timerId": "1",
                "startToFireTimeout": "60s",
                "workflowTaskCompletedEventId": events[-1]["eventId"],
            },
        }
    )
    for key in [k for k in events[-1] if k.endswith("EventAttributes") and k != "timerStartedEventAttributes"]:
        del events[-1][key]
    path.write_text(json.dumps(history))
    result = stack.cli("replay", "--dir", str(tmp_path), "--workers", "1", ok=False)
    assert result.exit_code == 1 and "NON-DETERMINISTIC" in result.output and "1 non-deterministic" in result.output
    # Across processes too, beside good histories: the same guard, the broken one named.
    for golden in sorted(GOLDEN.glob("*.json"))[:5]:
        shutil.copy(golden, tmp_path / golden.name)
    result = stack.cli("replay", "--dir", str(tmp_path), "--workers", "2", ok=False)
    assert result.exit_code == 1 and f"case-{case}" in result.output
    assert "Replayed 6 histories: 5 ok, 1 non-deterministic (2 processes)" in result.output


def test_replay_across_processes_reads_every_run_from_the_server(stack: Stack):
    """`earlyhelp replay --workers N` fetches and replays the server's histories in N processes (issue #17)."""
    stack.start_worker()
    cases = [case_id() for _ in range(3)]
    for case in cases:
        refer(stack, case)
        stack.cli("record-screening", case, "--by", "das", "--decision", "accept")
    result = stack.cli("replay", "--query", f"TaskQueue = '{stack.task_queue}'", "--workers", "2")
    assert "Replayed 3 histories: 3 ok, 0 non-deterministic (2 processes)" in result.output


def test_timeline_from_history_tells_who_did_what_and_when(stack: Stack):
    """The chronology from the history itself: steps, people, deadlines met [003]."""
    stack.start_worker()
    case = case_id()
    refer(stack, case)
    drive_to_closure_pending(stack, case)
    timeline = stack.cli_json("timeline", case)
    wait_until(lambda: len(saved_events(stack.database_url, case)) == len(timeline))  # every save in the history
    entries = stack.cli_json("timeline", case, "--from-history")
    whats = [e["what"] for e in entries]
    assert whats[0] == "run 1 started"
    assert [e["type"] for e in timeline] == [w for w in whats if not w.startswith("run ")]
    assert any(e["what"] == "DeadlineMet" and "kind=taf" in e["details"] for e in entries)
    assert {e["by"] for e in entries} >= {"lp-jones", "das-screener"}


def test_doctor_names_a_case_whose_save_cannot_succeed_and_passes_a_healthy_one(stack: Stack):
    """`earlyhelp doctor` (README "Bad input"): a case whose save fails with a data error is marked
    NeedsAttention and listed, exit 1; a healthy case alone gives exit 0."""
    stack.start_worker()
    healthy = case_id()
    refer(stack, healthy)
    wedged = case_id()

    async def with_a_broken_store() -> None:
        client = await connect(Config.from_env(stack.env))
        queue = f"{stack.task_queue}-broken"
        async with Worker(
            client,
            task_queue=queue,
            workflows=[EarlyHelpCase],
            activities=[impossible, no_previous_cases],
            workflow_runner=workflow_runner(),
        ):
            await start_case(client, sample_referral(wedged, datetime.now(UTC)), queue)

            async def marked() -> bool:
                return (
                    await client.count_workflows(f"WorkflowId = 'case-{wedged}' AND NeedsAttention = true")
                ).count == 1

            deadline = asyncio.get_running_loop().time() + 30
            while not await marked():
                assert asyncio.get_running_loop().time() < deadline, "the case was never marked"
                await asyncio.sleep(0.1)

    asyncio.run(with_a_broken_store())
    both = f"WorkflowId IN ('case-{healthy}', 'case-{wedged}')"
    result = stack.cli("doctor", "--query", both, ok=False)
    assert result.exit_code == 1 and wedged in result.output and "save_impossible" in result.output
    assert healthy not in result.output
    assert stack.cli("doctor", "--query", f"WorkflowId = 'case-{healthy}'").exit_code == 0


def test_doctor_names_a_case_the_deployed_rules_fail_on_and_says_what_to_do(stack: Stack):
    """A case allocated under the old rules, woken under a worker whose rules refuse allocation: its workflow
    task fails on replay (the case cannot mark itself), and `earlyhelp doctor` names it with the rule and
    what to do; the case goes on once the old code is back."""
    stack.start_worker()
    case = case_id()
    refer(stack, case)
    stack.cli("record-screening", case, "--by", "das-screener", "--decision", "accept")
    stack.cli("allocate", case, "--by", "das-screener", "--lead-practitioner", "lp-jones")
    stack.stop_all()

    async def under_the_stricter_rules() -> None:
        client = await connect(Config.from_env(stack.env))
        async with Worker(
            client,
            task_queue=stack.task_queue,
            workflows=[RefusesAllocation],
            activities=[impossible, no_previous_cases],
            max_cached_workflows=0,
        ):
            await client.get_workflow_handle(f"case-{case}").signal("move_to_new_run")
            deadline = asyncio.get_running_loop().time() + 60
            while (
                await client.get_workflow_handle(f"case-{case}").describe()
            ).raw_description.pending_workflow_task.attempt < 3:
                assert asyncio.get_running_loop().time() < deadline, "the task never failed three times"
                await asyncio.sleep(0.2)

    asyncio.run(under_the_stricter_rules())
    result = stack.cli("doctor", "--query", f"WorkflowId = 'case-{case}'", ok=False)
    assert result.exit_code == 1, result.output
    assert "workflow_task_failing" in result.output and RULE in result.output
    assert "what to do:" in result.output and "Reset" in result.output
    stack.start_worker()  # the old code back: the case goes on (into its new run) by itself
    wait_until(lambda: stack.cli("doctor", "--query", f"WorkflowId = 'case-{case}'", ok=False).exit_code == 0)


def test_doctor_lists_a_message_whose_delivery_ended_failed_on_the_services_side(stack: Stack):
    """A message Notify refused (or could not be reached for six hours) is a defined end, escalated to the
    manager; ops hear of it from `earlyhelp doctor`, with what to do. A case with none passes."""
    stack.start_worker()
    case = case_id()
    refer(stack, case)
    assert stack.cli("doctor", "--query", f"WorkflowId = 'case-{case}'").exit_code == 0

    async def failed_delivery() -> None:
        conn = await asyncpg.connect(stack.database_url)
        try:
            await conn.execute(
                "INSERT INTO notifications (case_id, seq, kind, recipient, subject, body, failure, delivery_status,"
                " final_at) VALUES ($1, 1, 'doctor_test', 'r', 's', 'b', 'refused', 'refused', now())",
                case,
            )
        finally:
            await conn.close()

    asyncio.run(failed_delivery())
    result = stack.cli("doctor", "--query", f"WorkflowId = 'case-{case}'", ok=False)
    assert result.exit_code == 1 and "delivery_failed" in result.output and "refused" in result.output
    assert "Notify API key" in " ".join(result.output.split())  # (however the terminal's width wraps it)


def test_patches_move_on_sends_each_open_run_that_needs_an_old_branch_onto_the_newest_code(stack: Stack):
    """A case started before `practice-v2` (the patch answered no, as the code before it did) still needs its
    old branch; `earlyhelp patches --move-on` after a deploy moves exactly that run on: it continues as a new
    run on today's code, and then no open run needs the old branch. A run on today's code is left alone."""
    from activities.db import connect as connect_db
    from activities.store import CaseActivities
    from tests.histories.record import answered_no
    from worker.main import new_worker

    old, new = case_id(), case_id()

    async def started_before_the_patch() -> None:
        client = await connect(Config.from_env(stack.env))
        pool = await connect_db(stack.database_url)
        try:
            with answered_no("practice-v2"):
                async with new_worker(client, CaseActivities(pool), stack.task_queue):
                    handle = await start_case(client, sample_referral(old, datetime.now(UTC)), stack.task_queue)
                    await handle.query(EarlyHelpCase.snapshot)  # its first workflow task done, under the old code
        finally:
            await pool.close()

    asyncio.run(started_before_the_patch())
    stack.start_worker()
    refer(stack, new)
    query = f"WorkflowId IN ('case-{old}', 'case-{new}')"

    def needing() -> dict[str, int]:
        answer = json.loads(stack.cli("patches", "--query", query, "--json").stdout)
        return {row["patch"]: row["runs_needing_old_branch"] for row in answer["patches"]}

    assert needing()["practice-v2"] == 1
    moved = json.loads(stack.cli("patches", "--query", query, "--json", "--move-on").stdout)["moved_on"]
    assert moved == [f"case-{old}"]
    wait_until(lambda: needing()["practice-v2"] == 0, what="the old case continued as a new run")
    assert stack.cli_json("status", old)["stage"] == "screening"  # the same case, on the newest code
