"""Long cases and saved events: continue-as-new keeps a case's state; a retried save never duplicates."""

from __future__ import annotations

import json
import uuid

from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.store import CaseActivities
from tests.support import LEAD, MANAGER, Case
from worker.main import new_worker
from workflows.case import EarlyHelpCase
from workflows.models import DecideClosure, Event
from workflows.policy import Policy


async def test_five_years_of_reviews_continue_as_new_and_keep_state(env, task_queue, pool):
    """Reviews every twelve weeks for five years [003]: the case continues-as-new and keeps all it knew."""
    case = await Case.start(env, task_queue, policy=Policy(continue_as_new_after_events=60))
    first_run = await case.current_run()
    await case.in_plan()
    for _ in range(21):  # 21 reviews x 12 weeks: just over five years
        snap = await case.reviewed("partly_met")
    reviews = [d for d in snap.deadlines if d.kind == "review"]
    assert [d.status for d in reviews] == ["met"] * 21 + ["pending"]
    assert _deadline_status(snap, "taf") == "met" and snap.lead_practitioner == LEAD
    await case.closure_requested()
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="five years on"))
    outcome = await case.handle.result()
    assert outcome.final_stage == "closed"

    runs = await case.runs()
    assert runs[0] == first_run and len(runs) >= 3, runs
    rows = await case.wait_saved(pool)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert sum(r["type"] == "ReviewHeld" for r in rows) == 21


async def test_saved_events_equal_the_timeline_with_no_duplicates_after_retries(env, pool):
    """Events are saved with (case_id, seq) as key: a save retried after it committed adds nothing [DESIGN]."""
    queue = f"flaky-{uuid.uuid4().hex[:8]}"
    async with new_worker(env.client, FlakyStore(pool), queue, workflow_failure_exception_types=[Exception]):
        case = await Case.start(env, queue)
        await case.in_plan()
        await case.closure_requested()
        await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="met"))
        await case.handle.result()
        timeline = await case.timeline()
        rows = await case.wait_saved(pool)
    assert [Event(seq=r["seq"], type=r["type"], at=r["at"], by=r["by_actor"], data=_json(r["data"])) for r in rows] == timeline
    assert FlakyStore.failed_after_commit >= 2
    feedback = await pool.fetchval(
        "SELECT count(*) FROM notifications WHERE case_id = $1 AND kind = 'referrer_feedback'", case.case_id)
    forms = await pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", case.case_id)
    assert (feedback, forms) == (2, 1)


class FlakyStore(CaseActivities):
    """Commits, then fails the first attempt of saves with effects, as a lost reply would."""

    failed_after_commit = 0

    @activity.defn(name="append_events")
    async def append_events(self, case_id: str, events: list[Event]) -> int:
        saved = await super().append_events(case_id, events)
        if activity.info().attempt == 1 and any(e.type in ("ScreeningRecorded", "ClosureDecided") for e in events):
            FlakyStore.failed_after_commit += 1
            raise RuntimeError("connection lost after commit")
        return saved


def _deadline_status(snap, kind):
    return [d for d in snap.deadlines if d.kind == kind][-1].status


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


async def test_finished_case_histories_replay_deterministically(env, task_queue):
    """Workflow code is pure orchestration: its own histories replay with no non-determinism [DESIGN]."""
    case = await Case.start(env, task_queue)
    await case.in_plan()
    await case.closure_requested()
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="met"))
    await case.handle.result()
    replayer = Replayer(workflows=[EarlyHelpCase], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(await case.handle.fetch_history(), raise_on_replay_failure=False)
    assert result.replay_failure is None
