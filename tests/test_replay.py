"""Versioning: the current workflow code replays the golden histories of every route.

tests/histories/ holds histories recorded by earlier versions of the code
(`python -m tests.histories.record`); a change that would break running
cases fails here as non-determinism, before it is deployed.
"""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.common import RawValue

import workflows.case
from starter.ops.histories import saved_events
from tests.histories.ends import GOLDEN, ends_differing, golden_histories
from tests.histories.ends import replay as replay_ends
from tests.histories.record import SCENARIOS
from tests.stricter import RULE, RefusesAllocation
from workflows.case import EVERY_PATCH_TO_DEC_2026, LEAN_TASKS, PRACTICE_V2, SHORTER_RUNS, EarlyHelpCase
from workflows.models import CaseOutcome


async def replay(workflow_class: type, histories: list[WorkflowHistory]) -> dict[str, str | None]:
    """Each history's replay failure, or None."""
    return (await replay_ends(workflow_class, histories))[0]


def test_golden_histories_cover_every_route_and_continue_as_new():
    names = {path.name.split(".")[0] for path in GOLDEN}
    assert names == set(SCENARIOS)
    assert len([p for p in GOLDEN if p.name.startswith("continue_as_new.")]) >= 2


async def test_every_golden_history_replays_on_the_current_code_and_ends_as_recorded():
    results, ends = await replay_ends(EarlyHelpCase, golden_histories())
    assert not {k: v for k, v in results.items() if v}
    assert set(ends) == {path.stem for path in GOLDEN}
    assert not ends_differing(ends)


@workflow.defn(name="EarlyHelpCase", sandboxed=False)
class IncompatibleCase(EarlyHelpCase):
    """A change made without `workflow.patched`: a new timer before anything else."""

    @workflow.run
    async def run(self, start: RawValue) -> CaseOutcome:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(start)


async def test_an_unguarded_change_is_caught_as_non_determinism():
    results = await replay(IncompatibleCase, golden_histories())
    assert all(results.values()), results
    assert all("nondetermin" in failure.lower() for failure in results.values())


async def test_a_rule_that_now_refuses_a_past_command_fails_replay_before_release():
    """Update handlers decide again on replay: a rule tightened so that it refuses a command a case took in
    the past fails that case's replay (as `earlyhelp replay` before a deploy would), naming the rule."""
    histories = golden_histories()
    allocated = {h.workflow_id for h in histories if _updates(h) & {"allocate"}}
    assert len(allocated) >= 8
    results = await replay(RefusesAllocation, histories)
    assert {name for name, failure in results.items() if failure} == allocated
    assert all(RULE in results[name] for name in allocated)


def _updates(history: WorkflowHistory) -> set[str]:
    return {
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    }


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_history_is_the_temporal_cli_json_format(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    assert history.events[0].HasField("workflow_execution_started_event_attributes")
    assert history.events[0].workflow_execution_started_event_attributes.workflow_type.name == "EarlyHelpCase"


async def test_the_patched_change_replays_old_and_new_histories(env, task_queue):
    """`publish-search-attributes-before-save` changed the command order under `workflow.patched`:
    histories recorded before it (the goldens) and after it both replay on the current code."""
    from tests.support import Case

    case = await Case.start(env, task_queue)
    await case.in_plan()
    new = await case.histories()
    markers = [
        e.marker_recorded_event_attributes for e in new[0].events if e.HasField("marker_recorded_event_attributes")
    ]
    assert markers, "a new history records the patch marker"
    # The goldens recorded before any patch have no marker (later goldens do).
    old = [h for h in golden_histories() if not any(e.HasField("marker_recorded_event_attributes") for e in h.events)]
    assert len(old) >= 9
    failures = {k: v for k, v in (await replay(EarlyHelpCase, old + new)).items() if v}
    assert not failures


async def test_saves_no_one_waits_on_are_local_activities_and_older_goldens_save_by_activity():
    """save-in-the-workflow-task: its goldens save the referral and what deadlines wrote by local activity, in the
    task that made them, and commands by activity; every golden before it saves by activity alone; all replay, and
    every event saved is in the history either way (the log of record)."""
    histories = golden_histories()
    lean = [h for h in histories if h.workflow_id.startswith(("saved_in_task", "one_marker"))]
    assert len(lean) == 11
    for h in lean:
        locally = [e for e in h.events if _saved_locally(e)]
        assert locally
        seqs = [e.seq for e in await saved_events(h)]
        assert seqs and seqs == sorted(set(seqs)) and seqs == list(range(seqs[0], seqs[-1] + 1))
    for name in ("saved_in_task_contact_ladder.run1", "one_marker_contact_ladder.run1"):
        ladder = next(h for h in lean if h.workflow_id == name)
        assert sum(_saved_locally(e) for e in ladder.events) >= 2  # the referral, and the late handover's escalation
        assert any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in ladder.events)  # commands'
    first_runs = [h for h in lean if h.workflow_id.endswith(".run1")]
    assert all(LEAN_TASKS in _patches(h) or _patches(h) == {EVERY_PATCH_TO_DEC_2026} for h in first_runs)
    older = [h for h in histories if h not in lean]
    assert not any(LEAN_TASKS in _patches(h) for h in older)
    assert not any(_saved_locally(e) for h in older for e in h.events)
    failures = {k: v for k, v in (await replay(EarlyHelpCase, histories)).items() if v}
    assert not failures


async def test_a_run_under_the_one_marker_asks_no_other_patch_and_older_runs_ask_each(monkeypatch):
    """every-patch-to-december-2026: each run recorded after it holds that one patch marker and one search-attribute
    write for it, where a run before it held a marker and a write for each patch it asked; both replay and end as
    recorded, and a run before it replays with the marker's old branch (each patch asked) while one after it fails
    if a patch it took is asked again by name."""
    histories = golden_histories()
    one = [h for h in histories if h.workflow_id.startswith("one_marker")]
    assert len(one) == 6 and all(_patches(h) == {EVERY_PATCH_TO_DEC_2026} for h in one)
    before = [h for h in histories if h not in one]
    assert not any(EVERY_PATCH_TO_DEC_2026 in _patches(h) for h in before)
    assert max(len(_patches(h)) for h in before) == 4  # (saved_in_task_contact_ladder: four markers)
    changed = [e for h in one for e in h.events if _changes_version(e)]
    assert len(changed) == len(one)  # one TemporalChangeVersion write a run
    results, ends = await replay_ends(EarlyHelpCase, histories)
    assert not {k: v for k, v in results.items() if v} and not ends_differing(ends)
    # Were the marker to take nothing, each patch would be asked by name and, with no marker of its own in these
    # histories, answered no: its old branch, which these runs did not take.
    monkeypatch.setattr(workflows.case, "TAKEN_WITH_IT", frozenset())
    asked_again = await replay(EarlyHelpCase, one)
    assert {name for name, failure in asked_again.items() if failure} >= {
        h.workflow_id for h in one if ".run1" in h.workflow_id
    }


def _changes_version(event) -> bool:
    attributes = event.upsert_workflow_search_attributes_event_attributes
    return event.HasField("upsert_workflow_search_attributes_event_attributes") and (
        "TemporalChangeVersion" in attributes.search_attributes.indexed_fields
    )


def _saved_locally(event) -> bool:
    marker = event.marker_recorded_event_attributes
    return marker.marker_name == "core_local_activity" and b"save_events" in marker.details["data"].payloads[0].data


def _patches(history: WorkflowHistory) -> set[str]:
    """The patch ids a history's markers record."""
    found = set()
    for e in history.events:
        if e.HasField("marker_recorded_event_attributes"):
            details = e.marker_recorded_event_attributes.details
            if "patch-data" in details:
                found.add(json.loads(details["patch-data"].payloads[0].data)["id"])
    return found


async def test_practice_v2_goldens_carry_its_marker_and_every_earlier_golden_replays_without_it():
    """docs/domain.md section 9 changed what commands do, under `workflow.patched("practice-v2")`: cases opened
    before it replay on the old rules (no marker), cases opened after it on the new ones [DOMAIN 9]."""
    histories = golden_histories()
    # (before_*: recorded by today's code with another patch answered "no": tests/histories/record.py)
    v2 = [
        h
        for h in histories
        if h.workflow_id.startswith(("practice_v2", "continue_as_new_shorter_runs.run1", "before_"))
        or h.workflow_id.startswith("saved_in_task")
        and h.workflow_id.endswith(".run1")
    ]
    assert len(v2) == 9 and all(PRACTICE_V2 in _patches(h) for h in v2)
    later_runs = ("continue_as_new_shorter_runs", "saved_in_task")  # (a continued run asks on its first run's rules)
    older = [h for h in histories if h not in v2 and not h.workflow_id.startswith(later_runs)]
    assert older and not any(PRACTICE_V2 in _patches(h) for h in older)
    failures = {k: v for k, v in (await replay(EarlyHelpCase, histories)).items() if v}
    assert not failures


async def test_the_shorter_runs_golden_carries_its_marker_and_no_earlier_golden_does():
    """Continue-as-new after 300 events, not 2000, under `workflow.patched("shorter-runs")` (workflows/case.py):
    history recorded before it replays with 2000; every golden replays on the current code."""
    histories = golden_histories()
    shorter = [h for h in histories if h.workflow_id == "continue_as_new_shorter_runs.run1"]
    assert len(shorter) == 1 and SHORTER_RUNS in _patches(shorter[0]) and len(shorter[0].events) >= 300
    later = ("continue_as_new_shorter_runs", "before_", "saved_in_task")  # (recorded after it, or on its old branch)
    older = [h for h in histories if not h.workflow_id.startswith(later)]
    assert older and not any(SHORTER_RUNS in _patches(h) for h in older)
    before = [h for h in histories if h.workflow_id == "before_shorter_runs.run1"]  # its old branch
    assert len(before) == 1 and SHORTER_RUNS not in _patches(before[0]) and len(before[0].events) >= 300


@pytest.mark.timeout(60)
async def test_a_run_read_the_moment_it_started_is_replayed_and_passes():
    """`earlyhelp patches` reads open runs while some are only starting (a run continued as new a moment ago):
    a history of its start event alone recorded no command, so it passes; the SDK's replayer, given it, never
    finished (the ops command hung in CI). A history beside it is still replayed and still fails if it should."""
    from starter.ops.histories import replay as ops_replay

    started = json.loads(GOLDEN[0].read_text())
    alone = WorkflowHistory.from_json("case-just-started", {**started, "events": started["events"][:1]})
    broken = WorkflowHistory.from_json("case-broken", started)
    broken.events[0].workflow_execution_started_event_attributes.workflow_type.name = "NotACase"

    async def histories():
        for history in (alone, broken):
            yield history

    results = await ops_replay(histories())
    assert [(r.workflow_id, r.failure is None) for r in results] == [
        ("case-just-started", True),
        ("case-broken", False),
    ]
