"""What a case asks of Temporal's server (patch save-in-the-workflow-task): a command is one workflow task, its
save a local activity inside it; a case note, which moves no deadline, keeps the deadline's timer; a deadline
that fires is one workflow task too, its escalation saved and its next timer set in it."""

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


async def test_a_command_is_one_workflow_task_and_a_note_keeps_the_deadlines_timer(env, task_queue):
    case = await Case.start(env, task_queue)
    try:
        await case.allocated()
        before = await history(case)
        assert any(e.event_type == T.EVENT_TYPE_TIMER_STARTED for e in before)  # the contact deadline's
        for n in range(3):
            await case.do(EarlyHelpCase.add_case_note, AddCaseNote(by=LEAD, text=f"note {n}"))
        notes = after(await history(case), len(before))
        assert notes[T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED] == 3
        assert notes[T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED] <= 3 + 1  # (an empty task may carry an update in)
        assert notes[T.EVENT_TYPE_MARKER_RECORDED] == 3  # each note's save, in its own workflow task
        assert notes[T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] == 0
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
        await eventually(lambda: _has(case, T.EVENT_TYPE_TIMER_FIRED, len(before)))
        events = await history(case)
        fired = next(i for i, e in enumerate(events) if i >= len(before) and e.event_type == T.EVENT_TYPE_TIMER_FIRED)
        task = after(events, fired)
        assert task[T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED] == 1
        assert task[T.EVENT_TYPE_MARKER_RECORDED] == 1  # the escalation saved, in the same task
        assert task[T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] == 0
        assert task[T.EVENT_TYPE_TIMER_STARTED] == 1  # and the next deadline's timer set
        assert [e.type for e in await case.timeline()][-1] == "DeadlineMissed"
    finally:
        await end(case.handle)


async def _has(case: Case, kind: int, mark: int) -> bool:
    return any(e.event_type == kind for e in list((await case.handle.fetch_history()).events)[mark:])
