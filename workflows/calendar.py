"""Calendar rules, evaluated in Europe/London (docs/contract.md "Identity").

Time of day for contact attempts [003] and working days that skip weekends
and England and Wales bank holidays, as one edition of the project's own list
has them (workflows/bank_holidays.py): the caller says which.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from workflows.bank_holidays import Edition, bank_holidays
from workflows.policy import Policy

LONDON = ZoneInfo("Europe/London")

TimeOfDay = Literal["morning", "afternoon", "evening"]


def time_of_day(at: datetime, policy: Policy) -> TimeOfDay:
    """Morning before 12:00, afternoon 12:00-17:00, evening after 17:00, London time."""
    local = at.astimezone(LONDON).time()
    if local < policy.afternoon_starts:
        return "morning"
    if local < policy.evening_starts:
        return "afternoon"
    return "evening"


def local_date(at: datetime) -> date:
    """The London calendar date of a moment."""
    return at.astimezone(LONDON).date()


def is_working_day(day: date, holidays: Edition) -> bool:
    return day.weekday() < 5 and day not in bank_holidays(day.year, holidays)


def add_working_days(start: datetime, days: int, holidays: Edition) -> datetime:
    """The same London wall-clock time `days` working days after `start`."""
    local = start.astimezone(LONDON)
    day = local.date()
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day, holidays):
            remaining -= 1
    return datetime.combine(day, local.time(), LONDON)


def end_of_day(day: date) -> datetime:
    """The last moment of a London calendar day, for deadlines given as dates."""
    return datetime.combine(day, time(23, 59, 59), LONDON)


def spoken_time(at: datetime) -> str:
    """A moment as people read it: London time, to the minute ("Thu 3 Dec 2026, 14:15")."""
    local = at.astimezone(LONDON)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def spoken_date(day: date) -> str:
    """A day as people read it ("Thu 3 Dec 2026")."""
    return f"{day:%a} {day.day} {day:%b %Y}"


def spoken_gap(gap: timedelta) -> str:
    """A length of time in words, to the minute ("2 days, 3 hours", "under a minute")."""
    minutes = int(gap.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    return ", ".join(f"{n} {word}{'s' if n != 1 else ''}" for n, word in parts if n)
