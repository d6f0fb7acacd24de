"""A case driven through the `earlyhelp` CLI against the dev server, with the worker as a process."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from starter.cli import STEPS
from starter.local.stack import BIN
from tests.e2e.conftest import Stack, wait_until

NEEDS = ["education", "housing", "family_relationships"]


def case_id() -> str:
    return f"E{uuid.uuid4().hex[:8]}"


def saved_events(database_url: str, case: str) -> list[dict]:
    async def fetch() -> list[dict]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch("SELECT seq, type, by_actor FROM case_events WHERE case_id = $1 ORDER BY seq", case)
            return [dict(r) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def refer(stack: Stack, case: str, *extra: str) -> dict:
    args = [
        "refer",
        "--case-id",
        case,
        "--locality",
        "North",
        "--family-ref",
        f"FAM-{case}",
        "--referrer-name",
        "A. Nurse",
        "--referrer-agency",
        "health",
        "--referrer-contact",
        "hv@nhs.example",
        "--consent",
        "--consent-form",
        "CF-1",
        "--by",
        "das-screener",
        *extra,
    ]
    for need in NEEDS:
        args += ["--need", f"{need}::presenting need"]
    return stack.cli_json(*args)


def drive_to_closure_pending(stack: Stack, case: str, worries: str = "attendance") -> None:
    now = datetime.now(UTC)
    stack.cli("record-screening", case, "--by", "das-screener", "--decision", "accept")
    stack.cli("allocate", case, "--by", "das-screener", "--lead-practitioner", "lp-jones")
    stack.cli("record-contact-attempt", case, "--by", "lp-jones", "--method", "phone", "--outcome", "reached")
    stack.cli(
        "record-home-visit", case, "--by", "lp-jones", "--agreement-given", "--genogram-started", "--children-seen"
    )
    needs = json.dumps([{"code": n, "complex": True} for n in NEEDS])
    stack.cli(
        "record-assessment",
        case,
        "--by",
        "lp-jones",
        "--worries",
        worries,
        "--needs-to-happen",
        "routine",
        "--scaling",
        "4",
        "--sources",
        "school",
        "--sources",
        "parent",
        "--needs",
        needs,
    )
    actions = json.dumps(
        [{"need_code": n, "action": "support", "owner": "school", "due": str(date.today())} for n in NEEDS]
    )
    stack.cli(
        "record-taf",
        case,
        "--by",
        "lp-jones",
        "--held-at",
        datetime.now(UTC).isoformat(),
        "--attendees",
        "parent",
        "--attendees",
        "school",
        "--actions",
        actions,
        "--review-date",
        str((now + timedelta(weeks=10)).date()),
    )
    outcomes = json.dumps([{"need_code": n, "summary": "met", "status": "met"} for n in NEEDS])
    stack.cli("request-closure", case, "--by", "lp-jones", "--reason", "needs_met", "--need-outcomes", outcomes)


def test_a_case_from_referral_to_closure_through_the_cli(stack: Stack):
    """Referral, screening, allocation, contact, visit, assessment, TAF, closure approved [000][003]."""
    stack.start_worker()
    case = case_id()
    snap = refer(stack, case)
    assert (snap["stage"], snap["threshold_recommendation"]) == ("screening", "accept")
    drive_to_closure_pending(stack, case)
    # The case's search attributes follow its stage: lists and the Web UI find it there.
    wait_until(
        lambda: case in [r["case_id"] for r in stack.cli_json("list", "--stage", "closure_pending")],
        what="the case listed in closure_pending",
    )
    refused = stack.cli("approve", case, "--manager", "lp-jones", "--reason", "done", ok=False)
    assert refused.exit_code == 1 and "closure_not_self_approved" in refused.output
    snap = stack.cli_json("approve", case, "--manager", "tm-patel", "--reason", "needs met")
    assert snap["stage"] == "closed" and snap["outcome"]["reason"] == "needs_met"
    timeline = stack.cli_json("timeline", case)
    rows = wait_until(lambda: (r := saved_events(stack.database_url, case)) and len(r) == len(timeline) and r)
    assert [(r["seq"], r["type"]) for r in rows] == [(e["seq"], e["type"]) for e in timeline]
    assert "closed" in stack.cli("status", case).output
    listed = stack.cli_json("list", "--locality", "North")
    assert case in [row["case_id"] for row in listed]


def test_bad_input_to_each_command_gives_a_clear_error_and_changes_nothing(stack: Stack):
    """Every command refuses bad input before sending it; the engine's refusals name the rule."""
    stack.start_worker()
    case = case_id()
    refer(stack, case)
    before = stack.cli_json("timeline", case)
    for step in STEPS.values():
        name = step.name.replace("_", "-")
        result = stack.cli(name, case, ok=False)  # no fields at all: `by` and the rest are missing
        assert result.exit_code == 2 and "invalid" in result.output and "by" in result.output, (name, result.output)
    wrong_stage = stack.cli("allocate", case, "--by", "x", "--lead-practitioner", "lp-1", ok=False)
    assert wrong_stage.exit_code == 1 and "wrong_stage" in wrong_stage.output
    bad_json = stack.cli("record-taf", case, "--by", "x", "--actions", "[not json", ok=False)
    assert bad_json.exit_code == 2 and "--actions is not valid JSON" in bad_json.output
    bad_choice = stack.cli("record-screening", case, "--by", "x", "--decision", "maybe", ok=False)
    assert bad_choice.exit_code == 2 and "decision" in bad_choice.output
    unknown = stack.cli("status", "NO-SUCH-CASE", ok=False)
    assert unknown.exit_code == 1 and "no such case" in unknown.output
    bad_id = stack.cli("refer", "--case-id", "has spaces", "--locality", "North", ok=False)
    assert bad_id.exit_code == 2 and "case_id" in bad_id.output
    bad_locality = stack.cli(
        "refer",
        "--case-id",
        "C1",
        "--locality",
        "Atlantis",
        "--family-ref",
        "F",
        "--referrer-name",
        "n",
        "--referrer-agency",
        "a",
        "--referrer-contact",
        "c",
        ok=False,
    )
    assert bad_locality.exit_code == 2 and "'Atlantis' is not one of" in bad_locality.output
    assert stack.cli("list", "--stage", "nowhere", ok=False).exit_code == 2
    assert stack.cli_json("timeline", case) == before


@pytest.mark.parametrize("command", ["status", "timeline"])
def test_unreachable_temporal_is_named(stack: Stack, command: str):
    """A wrong TEMPORAL_ADDRESS is reported by name, with exit code 2."""
    stack.server.address, real = "127.0.0.1:1", stack.server.address
    try:
        result = stack.cli(command, "X", ok=False)
    finally:
        stack.server.address = real
    assert result.exit_code == 2 and "TEMPORAL_ADDRESS" in result.output


def test_a_managers_morning_through_the_cli(stack: Stack, tmp_path):
    """caseload, due, approvals, the report (table, CSV, HTML) and the SSD export, from the read model."""
    stack.start_worker()
    case = case_id()
    refer(stack, case)
    drive_to_closure_pending(stack, case)
    timeline = stack.cli_json("timeline", case)
    wait_until(lambda: len(saved_events(stack.database_url, case)) == len(timeline))
    caseload = stack.cli_json("caseload", "--lead", "lp-jones")
    assert case in [r["case_id"] for r in caseload]
    assert case in [r["case_id"] for r in stack.cli_json("approvals", "--manager", "tm-patel")]
    assert case not in [r["case_id"] for r in stack.cli_json("approvals", "--manager", "lp-jones")]
    assert {r["kind"] for r in stack.cli_json("due", "--within", "20w") if r["case_id"] == case} >= {"review"}
    assert stack.cli("due", "--within", "soon", ok=False).exit_code == 2
    today = str(date.today())
    html = tmp_path / "report.html"
    figures = stack.cli_json("report", "--from", today, "--to", today, "--locality", "North", "--html", str(html))
    assert figures["referrals"] >= 1 and figures["locality"] == "North" and "<svg" in html.read_text()
    assert stack.cli("report", "--from", today, "--to", today, "--csv").stdout.startswith("figure,value")
    export = tmp_path / "ssd.csv"
    stack.cli("export-ssd", "--out", str(export))
    lines = export.read_text().splitlines()
    assert lines[0].startswith("earl_episode_id,earl_person_id,earl_episode_start_date")
    assert any(line.startswith(f"{case},{case},") for line in lines[1:])  # no child recorded: one row per case


def test_a_manager_reallocates_every_case_of_an_absent_practitioner(stack: Stack):
    """`earlyhelp reallocate --from --to --reason`: each open case of the practitioner moves, with the reason
    on every one; the cases of others stay [DOMAIN 9]."""
    stack.start_worker()
    absent = f"lp-away-{uuid.uuid4().hex[:6]}"
    theirs, other = [case_id(), case_id()], case_id()
    for case in (*theirs, other):
        refer(stack, case)
        stack.cli("record-screening", case, "--by", "das-screener", "--decision", "accept")
        stack.cli(
            "allocate", case, "--by", "das-screener", "--lead-practitioner", absent if case in theirs else "lp-jones"
        )
    wait_until(lambda: len(stack.cli_json("list", "--lead", absent)) == 2, what="the cases listed by lead")
    moved = stack.cli(
        "reallocate", "--from", absent, "--to", "lp-smith", "--reason", "long-term sickness", "--by", "tm-patel"
    )
    assert "2 of 2 open case(s)" in moved.stdout
    for case in theirs:
        assert stack.cli_json("status", case)["lead_practitioner"] == "lp-smith"
    assert stack.cli_json("status", other)["lead_practitioner"] == "lp-jones"
    refused = stack.cli(
        "reallocate", "--from", "lp-smith", "--to", "lp-jones", "--reason", "", "--by", "tm-patel", ok=False
    )
    assert refused.exit_code == 2 and "reason" in refused.output


def test_advice_point_contacts_are_logged_and_reported(stack: Stack):
    """`earlyhelp contact`: a contact through an advice point, counted in the report, never a case [002]."""
    today = str(datetime.now(UTC).astimezone().date())
    before = stack.cli_json("report", "--from", today, "--to", today, "--locality", "West")["advice_point_contacts"]
    stack.cli(
        "contact", "--locality", "West", "--channel", "phone", "--outcome", "advice_given", "--by", "das-screener"
    )
    bad = stack.cli(
        "contact",
        "--locality",
        "West",
        "--channel",
        "carrier pigeon",
        "--outcome",
        "advice_given",
        "--by",
        "das-screener",
        ok=False,
    )
    assert bad.exit_code == 2 and "channel" in bad.output
    after = stack.cli_json("report", "--from", today, "--to", today, "--locality", "West")["advice_point_contacts"]
    assert after == before + 1


def test_the_temporal_cli_example_in_the_docs_works_as_printed(stack: Stack, tmp_path):
    """docs/running-a-case.md's referral.json and Temporal CLI lines, run as printed (on this stack's queue,
    under a fresh case id): started, screened, allocated, and the snapshot says so."""
    doc = (Path(__file__).parents[2] / "docs" / "running-a-case.md").read_text()
    case = case_id()
    referral = re.search(r"```json\n(.*?)```", doc, re.S)[1].replace("C123", case)
    (tmp_path / "referral.json").write_text(referral)
    lines = re.search(r"```sh\n(temporal workflow start.*?)```", doc, re.S)[1].replace("\\\n", " ")
    stack.start_worker()
    answers = []
    for line in filter(None, map(str.strip, lines.splitlines())):
        args = shlex.split(line.replace("C123", case).replace("early-help", stack.task_queue))
        done = subprocess.run(
            [str(BIN / "temporal"), *args[1:], "--address", stack.server.address],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        answers.append(done.stdout)
    assert "initial_contact" in answers[-1] and "lp-jones" in answers[-1]
