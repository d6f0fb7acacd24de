"""What a case asks of Temporal's server (patch save-in-the-workflow-task): a case note, which moves no deadline,
keeps the deadline's timer (no cancel and restart); a deadline that fires is one workflow task, its escalation
saved (a local activity) and its next timer set in it, with no activity task."""

from __future__ import annotations

from collections import Counter

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from tests.support import LEAD, Case, end, eventually, idle
from workflows.case import EarlyHelpCase
from workflows.models import AddCaseNote

T = EventType


def after(events: list[HistoryEvent], mark: int) -> Counter[int]:
    """The kinds of the events after the first `mark` events."""
    return Counter(e.event_type for e in events[mark:])


async def history(case: Case) -> list[HistoryEvent]:
    await eventually(lambda: idle(case.handle))
    return list((await case.handle.fetch_history()).events)


async def test_a_note_keeps_the_deadlines_timer_and_its_reply_does_not_wait_on_the_save(env, task_queue):
    case = await Case.start(env, task_queue)
    try:
        await case.allocated()
        before = await history(case)
        assert any(e.event_type == T.EVENT_TYPE_TIMER_STARTED for e in before)  # the contact deadline's
        for n in range(3):
            await case.do(EarlyHelpCase.add_case_note, AddCaseNote(by=LEAD, text=f"note {n}"))
        notes = after(await history(case), len(before))
        assert notes[T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED] == 3
        # Saved by an activity (the reply is sent before it), never by a local activity the reply would wait on.
        assert 1 <= notes[T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] <= 3 and notes[T.EVENT_TYPE_MARKER_RECORDED] == 0
        assert notes[T.EVENT_TYPE_TIMER_STARTED] == notes[T.EVENT_TYPE_TIMER_CANCELED] == 0  # the same due time
        assert notes[T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES] == 0  # nothing listed changed
    finally:
        await end(case.handle)


async def test_a_deadline_that_fires_is_one_workflow_task_with_its_save_and_next_timer(env, task_queue):
    case = await Case.start(env, task_queue)
    try:
        before = await history(case)
        snap = await case.snapshot()
        due = min(d.due_at for d in snap.deadlines if d.status == "pending")
        await env.sleep(due - await case.now())

        # Watched from the history, never by a query: the time-skipping server answers a query that comes while
        # a task runs with a workflow task of its own (one more here, seen in 1 run of 6).
        async def both_fired() -> list[int] | None:
            events[:] = await history(case)
            fired = [i for i, e in enumerate(events) if i >= len(before) and e.event_type == T.EVENT_TYPE_TIMER_FIRED]
            saved = len(fired) == 2 and any(e.event_type == T.EVENT_TYPE_MARKER_RECORDED for e in events[fired[1] :])
            return fired if saved else None  # the reminder, then the escalation, saved

        events: list[HistoryEvent] = []
        fired = await eventually(both_fired)
        for start, stop in zip(fired, [*fired[1:], len(events)], strict=True):
            task = Counter(e.event_type for e in events[start:stop])
            said = " ".join(T.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events[start:stop])
            assert task[T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED] == 1, said  # (all of them, if it ever fails)
            assert task[T.EVENT_TYPE_MARKER_RECORDED] == 1  # what it wrote, saved in the same task
            assert task[T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] == 0
            assert task[T.EVENT_TYPE_TIMER_STARTED] <= 1  # and the next deadline's timer, if any, set
        assert Counter(e.event_type for e in events[fired[0] : fired[1]])[T.EVENT_TYPE_TIMER_STARTED] == 1
        assert [e.type for e in await case.timeline()][-1] == "DeadlineMissed"  # (asked once all is done)
    finally:
        await end(case.handle)


async def test_a_command_is_decided_once_where_its_validator_ran_and_again_on_replay(env, task_queue, monkeypatch):
    """The handler takes the decision its validator made in the same activation (the pathway run once a command,
    not twice); on replay, where validators do not run, the handler decides for itself, the same way."""
    import workflows.case
    from tests.histories.ends import replay

    decided: list[str] = []
    real = workflows.case.pathway.decide

    def counted(state, command, now):  # type: ignore[no-untyped-def]
        if state.referral.case_id == case.case_id:
            decided.append(type(command).__name__)
        return real(state, command, now)

    case = await Case.start(env, task_queue)
    try:
        await case.allocated()
        await history(case)
        monkeypatch.setattr(workflows.case.pathway, "decide", counted)
        for n in range(3):
            await case.do(EarlyHelpCase.add_case_note, AddCaseNote(by=LEAD, text=f"note {n}"))
        assert decided == ["AddCaseNote"] * 3
        decided.clear()
        failures, _ = await replay(EarlyHelpCase, [await case.handle.fetch_history()])
        assert not any(failures.values())
        assert decided.count("AddCaseNote") == 3  # the handler's own decision, on replay
    finally:
        await end(case.handle)
