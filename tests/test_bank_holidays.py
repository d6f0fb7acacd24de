"""Bank holidays as data the project owns (workflows/bank_holidays.py): the published list, future years by
rule, editions that never change, lookups safe under many workflow threads, and a newly announced holiday
that reaches the deadlines set after it while every history keeps the dates it was given."""

from __future__ import annotations

import hashlib
import sys
import threading
import uuid
from datetime import date, datetime

import pytest

import workflows.bank_holidays as bank_holidays
from activities.store import CaseActivities
from tests.servers import own_time_skipping_server
from tests.support import LEAD, MANAGER, SCREENER, Case, end, eventually
from worker.main import new_worker
from workflows.bank_holidays import EDITIONS, FIRST, LATEST, Edition
from workflows.calendar import LONDON, add_working_days, is_working_day

env = own_time_skipping_server()  # its worker's queue goes with it: no case left on it holds up the shared clock

# As published on GOV.UK ("UK bank holidays", England and Wales).
PUBLISHED = {
    2022: [
        "2022-01-03",
        "2022-04-15",
        "2022-04-18",
        "2022-05-02",
        "2022-06-02",
        "2022-06-03",
        "2022-08-29",
        "2022-09-19",
        "2022-12-26",
        "2022-12-27",
    ],
    2023: [
        "2023-01-02",
        "2023-04-07",
        "2023-04-10",
        "2023-05-01",
        "2023-05-08",
        "2023-05-29",
        "2023-08-28",
        "2023-12-25",
        "2023-12-26",
    ],
    2025: [
        "2025-01-01",
        "2025-04-18",
        "2025-04-21",
        "2025-05-05",
        "2025-05-26",
        "2025-08-25",
        "2025-12-25",
        "2025-12-26",
    ],
    2026: [
        "2026-01-01",
        "2026-04-03",
        "2026-04-06",
        "2026-05-04",
        "2026-05-25",
        "2026-08-31",
        "2026-12-25",
        "2026-12-28",
    ],
    2027: [
        "2027-01-01",
        "2027-03-26",
        "2027-03-29",
        "2027-05-03",
        "2027-05-31",
        "2027-08-30",
        "2027-12-27",
        "2027-12-28",
    ],
}
# Each released edition's days, 1990-2100, fingerprinted: a released edition never changes (add a new one).
RELEASED = {1: "3f16e073a578a5629be5f77d9b712c3a5ea8ffe9333caf3938ac6ae1bec209cc"}


def fingerprint(edition: Edition) -> str:
    days = (d.isoformat() for year in range(1990, 2101) for d in sorted(bank_holidays.bank_holidays(year, edition)))
    return hashlib.sha256(",".join(days).encode()).hexdigest()


@pytest.mark.parametrize("year", PUBLISHED)
def test_the_latest_edition_is_the_published_list(year):
    assert sorted(bank_holidays.bank_holidays(year, LATEST)) == [date.fromisoformat(d) for d in PUBLISHED[year]]


def test_later_years_follow_the_rules_with_weekend_holidays_moved_to_weekdays():
    assert date(2028, 1, 3) in bank_holidays.bank_holidays(2028, LATEST)  # 1 January 2028 is a Saturday
    # Christmas on a Saturday (2032): the 27th and 28th; on a Sunday (2033): Boxing Day, then the 27th.
    assert {d for d in bank_holidays.bank_holidays(2032, LATEST) if d.month == 12} == {
        date(2032, 12, 27),
        date(2032, 12, 28),
    }
    assert {d for d in bank_holidays.bank_holidays(2033, LATEST) if d.month == 12} == {
        date(2033, 12, 26),
        date(2033, 12, 27),
    }
    assert sorted(bank_holidays.bank_holidays(2150, LATEST))[:3] == [
        date(2150, 1, 1),
        date(2150, 4, 10),
        date(2150, 4, 13),
    ]  # Easter 12 April


def test_a_released_edition_never_changes():
    for edition in EDITIONS:
        assert edition.number == EDITIONS.index(edition) + 1 and (edition.patch is None) == (edition.number == 1)
        if edition.number in RELEASED:
            assert fingerprint(edition) == RELEASED[edition.number], f"edition {edition.number} was changed"


def test_lookups_from_many_workflow_threads_at_once_all_answer_right():
    """Workflows run in threads of the worker; the calendar has no shared mutable state to race on."""
    days = [
        date(year, month, day)
        for year in (2026, 2031, 2099, 2150)
        for month in (1, 4, 5, 8, 12)
        for day in (1, 3, 6, 25, 26, 27, 28)
    ]
    expected = [is_working_day(d, LATEST) for d in days]
    wrong: list[date] = []
    start = threading.Barrier(8)

    def look_up() -> None:
        start.wait()
        for _ in range(20):
            wrong.extend(d for d, answer in zip(days, expected, strict=True) if is_working_day(d, LATEST) != answer)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=look_up) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == [] and len(days) * 20 * 8 >= 2400


def deadline(snapshot, kind: str):
    return next(d for d in snapshot.deadlines if d.kind == kind)


def due(snapshot, kind: str) -> datetime:
    return deadline(snapshot, kind).due_at


async def test_a_newly_announced_bank_holiday_reaches_deadlines_set_after_it_and_replay_keeps_every_date(
    env, pool, monkeypatch
):
    """A case's allocation deadline is set; then a bank holiday is announced inside its window (a new edition
    of the list). A worker of the new code replays the case with the date it was given; the case takes the new
    edition at its next run (ops' `move_to_new_run`), and first contact, set after, skips the new holiday."""
    queue = f"holidays-{uuid.uuid4().hex[:8]}"
    # No cache: every task replays the case's history from the start under the code as it is then.
    async with new_worker(env.client, CaseActivities(pool), queue, max_cached_workflows=0):
        case = await Case.start(env, queue)
        accepted = await case.do("record_screening", {"by": SCREENER, "decision": "accept"})
        allocation_due = due(accepted, "allocation")
        announced = add_working_days(await case.now(), 1, FIRST).astimezone(LONDON).date()  # the next working day
        new = Edition(len(EDITIONS) + 1, "bank-holidays-announced-in-a-test", frozenset({announced}), frozenset())
        monkeypatch.setattr(bank_holidays, "EDITIONS", (*EDITIONS, new))

        replayed = await case.snapshot()  # replayed under the new code
        assert due(replayed, "allocation") == allocation_due
        first_run = (await case.handle.describe()).run_id
        await case.handle.signal("move_to_new_run")
        await eventually(lambda: _moved_on(case, first_run))
        allocated = await case.do("allocate", {"by": MANAGER, "lead_practitioner": LEAD})
        assert due(allocated, "allocation") == allocation_due  # set before the announcement: kept
        first_contact = deadline(allocated, "first_contact_attempt")  # two working days on
        assert first_contact.due_at == add_working_days(first_contact.set_at, 2, new)
        assert first_contact.due_at != add_working_days(first_contact.set_at, 2, FIRST)
        await end(case.handle)


async def _moved_on(case: Case, first_run: str) -> bool:
    return (await case.handle.describe()).run_id != first_run
