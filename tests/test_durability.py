"""Long cases and saved events: continue-as-new keeps a case's state; a retried save never duplicates."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.store import CaseActivities
from tests.servers import case_worker, own_time_skipping_server
from tests.support import LEAD, MANAGER, Case, end, eventually, idle
from worker.main import new_worker
from worker.sandbox import workflow_runner
from workflows.case import TIMELINE_QUERY_BYTES, EarlyHelpCase
from workflows.models import DecideClosure, Event, NeedProgress, RecordReview
from workflows.policy import Policy
from workflows.state import Carried

# Years of reviews per case: a server of its own, so these thousands of timers and long histories never share
# the time-skipping server (and its clock) with the rest of the suite, where the 300-event case's queries
# timed out on CI under that load.
env = own_time_skipping_server()


@pytest.fixture(scope="module")
async def task_queue(env: Any, pool: Any) -> AsyncIterator[str]:
    async with case_worker(env, pool, "durability") as queue:
        yield queue


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
    # Each continued run carries the state and what is unsaved, not every event so far (carry-state-not-timeline).
    for history in (await case.histories())[1:]:
        start = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        carried = pydantic_data_converter.payload_converter.from_payload(start, Carried)
        assert carried.timeline == [] and carried.state.seq > 0
    rows = await case.wait_saved(pool)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert sum(r["type"] == "ReviewHeld" for r in rows) == 21


async def test_saved_events_equal_the_timeline_with_no_duplicates_after_retries(env, pool):
    """Events are saved with (case_id, seq) as key: a save retried after it committed adds nothing [DESIGN]."""
    queue = f"flaky-{uuid.uuid4().hex[:8]}"
    async with new_worker(env.client, FlakyStore(pool), queue):
        case = await Case.start(env, queue)
        await case.in_plan()
        await case.closure_requested()
        await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="met"))
        await case.handle.result()
        timeline = await case.timeline()
        rows = await case.wait_saved(pool)
    assert [
        Event(seq=r["seq"], type=r["type"], at=r["at"], by=r["by_actor"], data=_json(r["data"])) for r in rows
    ] == timeline
    assert FlakyStore.failed_after_commit >= 2
    # Dated by the workflow's time (whole milliseconds), never the worker's clock after its look-up answered.
    found = next(r for r in rows if r["type"] == "PreviousCasesFound")
    assert found["at"].microsecond % 1000 == 0, found["at"]
    feedback = await pool.fetchval(
        "SELECT count(*) FROM notifications WHERE case_id = $1 AND kind = 'referrer_feedback'", case.case_id
    )
    forms = await pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", case.case_id)
    assert (feedback, forms) == (2, 1)


class FlakyStore(CaseActivities):
    """Commits, then fails the first attempt of saves with effects, as a lost reply would."""

    failed_after_commit = 0

    @activity.defn(name="append_events")
    async def append_events(self, case_id: str, events: list[Event], first_run: str = "") -> int:
        saved = await super().append_events(case_id, events, first_run)
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
    replayer = Replayer(
        workflows=[EarlyHelpCase], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    result = await replayer.replay_workflow(await case.handle.fetch_history(), raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_a_case_with_maximal_input_in_every_field_runs_for_years_within_temporals_limits(env, task_queue, pool):
    """Bounded input, bounded history (docs/contract.md "Bounded input"): every text at its maximum, ten needs,
    a full assessment and plan, then five years of reviews and a hundred closure requests of 100 KB each
    refused. The case continues-as-new by size, each run's history and what it carries stay far below
    Temporal's limits (50 MB a history, 2 MB a payload), and the timeline query still answers."""
    from datetime import timedelta

    from starter.local.samples import sample_referral
    from tests.support import SCREENER
    from workflows.models import (
        Allocate,
        Family,
        Member,
        Need,
        NeedCode,
        NeedOutcome,
        PlanAction,
        RecordAssessment,
        RecordContactAttempt,
        RecordHomeVisit,
        RecordScreening,
        RecordTaf,
        RequestClosure,
    )

    reason, summary, name = "r" * 2_000, "s" * 10_000, "n" * 200
    needs = [Need(code=c, complex=True, description=reason) for c in NeedCode]
    referral = sample_referral(f"T{uuid.uuid4().hex[:10]}", await env.get_current_time(), needs=needs)
    referral = referral.model_copy(
        update={
            "family": Family(
                family_ref="F" * 64,
                members=[Member(person_ref=f"P{i:063d}", role=name, year_of_birth=2010) for i in range(50)],
            )
        }
    )
    case = await Case.start(env, task_queue, referral)
    await case.do(EarlyHelpCase.record_screening, RecordScreening(by=SCREENER, decision="accept"))
    await case.do(EarlyHelpCase.allocate, Allocate(by=SCREENER, lead_practitioner=LEAD))
    await case.do(
        EarlyHelpCase.record_contact_attempt, RecordContactAttempt(by=LEAD, method="phone", outcome="reached")
    )
    await case.do(
        EarlyHelpCase.record_home_visit,
        RecordHomeVisit(by=LEAD, agreement_given=True, genogram_started=True, children_seen=True),
    )
    await case.do(
        EarlyHelpCase.record_assessment,
        RecordAssessment(
            by=LEAD,
            worries=[reason] * 50,
            working_well=[reason] * 50,
            needs_to_happen=[reason] * 50,
            scaling=4,
            sources=[f"{i:03d}{name[3:]}" for i in range(20)],
            needs=needs,
        ),
    )
    held = await case.now()
    await case.do(
        EarlyHelpCase.record_taf,
        RecordTaf(
            by=LEAD,
            held_at=held,
            attendees=[name] * 50,
            review_date=held.date() + timedelta(weeks=12),
            actions=[
                PlanAction(
                    need_code=NeedCode(list(NeedCode)[i % 10]),
                    action=reason,
                    owner=name,
                    due=held.date() + timedelta(weeks=6),
                )
                for i in range(100)
            ],
        ),
    )
    outcomes = [NeedOutcome(need_code=n.code, summary=summary, status="met") for n in needs]
    for _year in range(5):
        for _ in range(4):
            await case.reviewed("partly_met")
        for _ in range(20):
            await case.do(
                EarlyHelpCase.request_closure, RequestClosure(by=LEAD, reason="needs_met", need_outcomes=outcomes)
            )
            await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=False, reason=reason))
    # The query answers, bounded, however large the run's events (one more, in case the run has just begun).
    await case.do(EarlyHelpCase.request_closure, RequestClosure(by=LEAD, reason="needs_met", need_outcomes=outcomes))
    timeline = await case.timeline()
    assert timeline and sum(len(e.model_dump_json()) for e in timeline) <= TIMELINE_QUERY_BYTES
    histories = await case.histories()
    assert len(histories) >= 2, "a case this large continues-as-new by size"
    for history in histories:
        size = sum(e.ByteSize() for e in history.events)
        assert size < 20 * 1024 * 1024, size
        started = history.events[0].workflow_execution_started_event_attributes
        assert all(p.ByteSize() < 2 * 1024 * 1024 for p in started.input.payloads)
    rows = await case.wait_saved(pool)
    assert [r["seq"] for r in rows] == list(range(1, (await case.snapshot()).events + 1))
    await end(case.handle)


async def test_a_case_on_the_default_policy_continues_as_new_at_the_first_review_after_300_events(env, task_queue):
    """Runs stay short enough that a command on an evicted case replays quickly (workflows/policy.py,
    benchmarks/results/cold-cases-30x40.json): the default continues-as-new at the first review after 300
    events, not 2000 (patch `shorter-runs`, taken with every-patch-to-december-2026; history recorded before
    it replays with 2000)."""
    case = await Case.start(env, task_queue)
    needs = (await case.in_plan()).needs
    # Reviews held one after another, the same day, each once the case is idle again (free to continue as new): the
    # run's length is what counts, not the calendar. (Skipping years of timers here, a query that reached the case
    # as it continued as new waited on the test server, which then dropped its connection under CI's load.)
    progress = [NeedProgress(need_code=n.code, status="partly_met") for n in needs]
    latest = env.client.get_workflow_handle(case.handle.id)  # whichever run is the case's now
    for _ in range(80):
        now = await case.now()
        review = RecordReview(
            by=LEAD, held_at=now, progress=progress, next_review_date=now.date() + timedelta(weeks=12)
        )
        await latest.execute_update(EarlyHelpCase.record_review, review)
        await eventually(lambda: idle(latest))
        if len(await case.runs()) > 1:
            break
    first = (await case.histories())[0]
    assert len(await case.runs()) == 2
    assert 300 <= len(first.events) < 420, len(first.events)
    markers = [e for e in first.events if e.HasField("marker_recorded_event_attributes")]
    assert any(b"every-patch-to-december-2026" in m.SerializeToString() for m in markers)  # (shorter-runs with it)
