"""The days a calendar-dependent test runs on, and moving a time-skipping server to one of them.

The test server starts at the machine's time and only goes forward, so a test "on a Thursday" skips the
server to the next Thursday. Each day is found from the server's own time, never fixed in the test, so a
test means the same on whatever day CI runs it. `pytest --day NAME` moves every new time-skipping
server to that day before its first test (`make test-days` runs the time-skipping tests on each).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from temporalio.testing import WorkflowEnvironment

from workflows.bank_holidays import LATEST
from workflows.calendar import LONDON, is_working_day

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A bank holiday on a weekday; the working days either side of the spring or autumn clock change.
DAYS = (*WEEKDAYS, "bank-holiday", "friday-before-clock-change", "monday-after-clock-change")
MORNING = time(8, 0)  # when the daily digest runs
start_on: str | None = None  # pytest --day NAME (tests/conftest.py)


def _clock_change_after(day: date) -> date:
    """The first day after `day` on which London's clocks go forward or back."""
    offset = lambda d: datetime.combine(d, time(12), LONDON).utcoffset()  # noqa: E731
    while offset(day + timedelta(days=1)) == offset(day):
        day += timedelta(days=1)
    return day + timedelta(days=1)


def next_day(name: str, after: date) -> date:
    """The first day strictly after `after` that fits `name` (one of DAYS)."""
    if name in WEEKDAYS:
        return after + timedelta(days=(WEEKDAYS.index(name) - after.weekday() - 1) % 7 + 1)
    if name == "bank-holiday":
        day = after + timedelta(days=1)
        while day.weekday() >= 5 or is_working_day(day, LATEST):
            day += timedelta(days=1)
        return day
    if name == "friday-before-clock-change":  # the first change whose Friday is after `after`
        return _clock_change_after(after + timedelta(days=2)) - timedelta(days=2)
    return _clock_change_after(after - timedelta(days=1)) + timedelta(days=1)  # likewise its Monday


async def move_to(env: WorkflowEnvironment, name: str, at: time = MORNING) -> datetime:
    """Skip the server forward to `at` London time on the next day that fits `name`; returns that moment."""
    now = await env.get_current_time()
    target = datetime.combine(next_day(name, now.astimezone(LONDON).date()), at, LONDON)
    await env.sleep(target - now)
    return target
