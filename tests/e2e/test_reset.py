"""`temporal workflow reset` of a case, as ops would run it after a bad deploy: to before the case's first
save, and to the middle of its history. Each leaves one correct case: no CaseIdTaken, and the saved events
are exactly the new run's, none duplicated or missing."""

from __future__ import annotations

import asyncio
import json
import subprocess

import asyncpg

from starter.local.stack import BIN
from tests.e2e.conftest import Stack, wait_until
from tests.e2e.test_cli_case import case_id, refer, saved_events


def temporal(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "temporal"), *args, "--address", stack.server.address],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def history(stack: Stack, case: str) -> list[dict]:
    return json.loads(temporal(stack, "workflow", "show", "--workflow-id", f"case-{case}", "--output", "json"))[
        "events"
    ]


def describe(stack: Stack, case: str) -> dict:
    return json.loads(temporal(stack, "workflow", "describe", "--workflow-id", f"case-{case}", "--output", "json"))


def lead(stack: Stack, case: str) -> str:
    async def fetch() -> str:
        conn = await asyncpg.connect(stack.database_url)
        try:
            return await conn.fetchval("SELECT lead_practitioner FROM cases WHERE case_id = $1", case)
        finally:
            await conn.close()

    return asyncio.run(fetch())


def test_reset_to_before_the_first_save_leaves_one_case(stack: Stack):
    stack.start_worker()
    case = case_id()
    refer(stack, case)
    stack.cli("record-screening", case, "--by", "das-screener", "--decision", "accept")
    run = describe(stack, case)["workflowExecutionInfo"]["execution"]["runId"]
    temporal(
        stack, "workflow", "reset", "--workflow-id", f"case-{case}", "--type", "FirstWorkflowTask", "--reason", "test"
    )

    assert describe(stack, case)["workflowExecutionInfo"]["execution"]["runId"] != run
    stack.cli("allocate", case, "--by", "das-screener", "--lead-practitioner", "lp-jones")
    timeline = stack.cli_json("timeline", case)
    rows = wait_until(lambda: (r := saved_events(stack.database_url, case)) and len(r) == len(timeline) and r)

    assert [(r["seq"], r["type"]) for r in rows] == [(e["seq"], e["type"]) for e in timeline]


def test_reset_to_the_middle_replaces_the_undone_events_and_the_read_model(stack: Stack):
    """Reset to just after screening, without the commands that came after: the new run's allocation (to
    another practitioner) replaces the undone one at its place, the undone contact attempt goes, and the
    read model names the new lead."""
    stack.start_worker()
    case = case_id()
    refer(stack, case)
    stack.cli("record-screening", case, "--by", "das-screener", "--decision", "accept")
    screened = history(stack, case)
    stack.cli("allocate", case, "--by", "das-screener", "--lead-practitioner", "lp-jones")
    stack.cli("record-contact-attempt", case, "--by", "lp-jones", "--method", "phone", "--outcome", "no_answer")
    # (a command's reply comes before its save: wait for it)
    wait_until(
        lambda: (
            (r := saved_events(stack.database_url, case))
            and {"CaseAllocated", "ContactAttemptRecorded"} <= {e["type"] for e in r}
            and r
        ),
        what="the allocation and the contact attempt saved",
    )
    # The first workflow task after screening's (the allocation's): reset there, it runs again without the updates.
    last_screened = max(int(e["eventId"]) for e in screened)
    after_screening = min(
        int(e["eventId"])
        for e in history(stack, case)
        if e["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_COMPLETED" and int(e["eventId"]) > last_screened
    )
    temporal(
        stack,
        "workflow",
        "reset",
        "--workflow-id",
        f"case-{case}",
        "--event-id",
        str(after_screening),
        "--reapply-exclude",
        "Update",
        "--reason",
        "test",
    )
    stack.cli("allocate", case, "--by", "das-screener", "--lead-practitioner", "lp-smith")
    timeline = stack.cli_json("timeline", case)
    rows = wait_until(
        lambda: (r := saved_events(stack.database_url, case)) and r[-1]["type"] == timeline[-1]["type"] and r
    )
    assert [(r["seq"], r["type"], r["by_actor"]) for r in rows] == [(e["seq"], e["type"], e["by"]) for e in timeline]
    assert "ContactAttemptRecorded" not in [r["type"] for r in rows]
    assert lead(stack, case) == "lp-smith"
