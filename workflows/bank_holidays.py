"""England and Wales bank holidays: data the project owns, in editions that never change once released.

A year's bank holidays follow the standing rules (the Banking and Financial Dealings Act 1971 and the
royal proclamations that move them off weekends): New Year's Day, Good Friday, Easter Monday, the
early May, spring and summer bank holidays, Christmas Day and Boxing Day, a weekend one moved to the next
weekday. On top of those come the one-off changes announced by proclamation and published on GOV.UK
("UK bank holidays"): a jubilee, a coronation, a state funeral, a moved VE Day.

A deadline's due date depends on the edition it was computed under, and a case replays its history under
the same one: each edition after the first comes in behind its own `workflow.patched` id
(workflows/case.py), so a history written before an announcement keeps its dates and a case takes the
new edition from its next command on. To add an announcement: append an Edition with the next number and a
new patch id; never change a released one (docs/operations.md "Bank holidays").

Immutable: a table built once at import, read by every workflow thread without locks or caches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType

from dateutil.easter import easter


@dataclass(frozen=True)
class Edition:
    number: int
    patch: str | None  # the workflow.patched id that brings it into a running case; None for the first
    added: frozenset[date]  # announced days off on top of the rules
    removed: frozenset[date]  # days the rules give that an announcement moved


def _monday_on(day: date) -> date:
    """`day`, or the Monday after it if it falls at a weekend."""
    return day + timedelta(days=max(0, 7 - day.weekday()) if day.weekday() >= 5 else 0)


def by_rule(year: int) -> frozenset[date]:
    """The year's bank holidays by the standing rules alone."""
    good_friday = easter(year) - timedelta(days=2)
    may_1, may_31, aug_31 = date(year, 5, 1), date(year, 5, 31), date(year, 8, 31)
    christmas = date(year, 12, 25)
    # Christmas on a Saturday or Sunday moves to the 27th, and Boxing Day (or its Sunday) to the next free weekday.
    christmas_off = {4: (25, 28), 5: (27, 28), 6: (26, 27)}.get(christmas.weekday(), (25, 26))
    return frozenset(
        {
            _monday_on(date(year, 1, 1)),
            good_friday,
            good_friday + timedelta(days=3),  # Easter Monday
            may_1 + timedelta(days=-may_1.weekday() % 7),  # first Monday in May
            may_31 - timedelta(days=may_31.weekday()),  # last Monday in May
            aug_31 - timedelta(days=aug_31.weekday()),  # last Monday in August
            *(date(year, 12, d) for d in christmas_off),
        }
    )


EDITIONS: tuple[Edition, ...] = (
    Edition(
        1,
        None,
        added=frozenset(
            {
                date(1995, 5, 8),  # VE Day's 50th anniversary (instead of 1 May)
                date(1999, 12, 31),  # the millennium
                date(2002, 6, 3),
                date(2002, 6, 4),  # the Golden Jubilee (instead of 27 May)
                date(2011, 4, 29),  # the royal wedding
                date(2012, 6, 4),
                date(2012, 6, 5),  # the Diamond Jubilee (instead of 28 May)
                date(2020, 5, 8),  # VE Day's 75th anniversary (instead of 4 May)
                date(2022, 6, 2),
                date(2022, 6, 3),  # the Platinum Jubilee (instead of 30 May)
                date(2022, 9, 19),  # the state funeral of Queen Elizabeth II
                date(2023, 5, 8),  # the coronation of King Charles III
            }
        ),
        removed=frozenset(
            {date(1995, 5, 1), date(2002, 5, 27), date(2012, 5, 28), date(2020, 5, 4), date(2022, 5, 30)}
        ),
    ),
)
FIRST, LATEST = EDITIONS[0], EDITIONS[-1]

# Every edition's days for the years a case can meet, built once; a year outside it is computed when asked.
_YEARS = range(1990, 2101)
_TABLE: MappingProxyType[tuple[Edition, int], frozenset[date]] = MappingProxyType(
    {
        (edition, year): frozenset((by_rule(year) - edition.removed) | {d for d in edition.added if d.year == year})
        for edition in EDITIONS
        for year in _YEARS
    }
)


def bank_holidays(year: int, edition: Edition) -> frozenset[date]:
    """The year's bank holidays in England and Wales, as `edition` has them."""
    found = _TABLE.get((edition, year))
    if found is None:
        found = (by_rule(year) - edition.removed) | {d for d in edition.added if d.year == year}
    return found


def edition(number: int) -> Edition:
    return EDITIONS[number - 1]
