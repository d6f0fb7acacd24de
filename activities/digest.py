"""Daily digests (workflows/digest.py): each working morning, each manager hears what is overdue and what
falls due this week in their localities, each lead practitioner the same of their own cases.

A digest names cases by id, deadlines by name and due times: no family data. One per person per day (its
`digest_key`), so a retried or repeated run writes nothing twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
from temporalio import activity

from activities import read_model
from activities.delivery import delivery
from activities.effects import task_name
from activities.follow_ups import start_follow_ups
from worker.authz import Roles
from workflows.calendar import LONDON, end_of_day


def week_end(day: date) -> datetime:
    """The end of the week (Sunday, London) that `day` is in."""
    return end_of_day(day + timedelta(days=6 - day.weekday()))


def digest_text(day: date, whose: str, rows: list[dict]) -> tuple[str, str] | None:
    """A digest's subject and body, or None when nothing is overdue or due."""
    overdue = [r for r in rows if r["overdue"]]
    coming = [r for r in rows if not r["overdue"]]
    if not rows:
        return None

    def line(r: dict) -> str:
        due = r["due_at"].astimezone(LONDON).strftime("%a %-d %b %H:%M")
        return f"- Case {r['case_id']} ({r['locality']}): {task_name(r['kind'], r.get('detail'))}, due {due}"

    parts = [f"Early Help: what is due, {whose}, {day:%A %-d %B %Y}.", ""]
    parts += [f"Overdue ({len(overdue)}):"] + [line(r) for r in overdue] + [""] if overdue else []
    parts += [f"Due this week ({len(coming)}):"] + [line(r) for r in coming] if coming else []
    subject = f"Early Help digest: {len(overdue)} overdue, {len(coming)} due this week"
    return subject, "\n".join(parts).strip() + "\n"


class DigestActivities:
    def __init__(self, pool: asyncpg.Pool, roles: Roles | None, deliver: bool) -> None:
        self.pool, self.roles, self.deliver = pool, roles, deliver

    @activity.defn
    async def write_digests(self, day: date, at: datetime | None = None) -> list[int]:
        """Write the day's digests to the outbox and start their delivery; returns the new items' ids.

        `at` is the workflow's moment, so "overdue" and "this week" follow the workflow's clock (a run
        scheduled before `at` was passed has none, and takes this machine's)."""
        if self.roles is None:
            return []
        now = at or datetime.now(UTC)
        within = max(week_end(day) - now, timedelta(0))
        written: list[int] = []
        async with self.pool.acquire() as conn:
            for person, held in sorted(self.roles.people.items()):
                activity.heartbeat(person)
                found: list[dict] = []
                if "managers" in held:
                    localities = self.roles.localities(person)
                    found += await read_model.due(conn, now, within=within, locality=localities)
                    found += await read_model.plan_actions_due(conn, now, within=within, locality=localities)
                if held & {"practitioners", "social_workers"}:
                    own = await read_model.due(conn, now, within=within, lead=person)
                    own += await read_model.plan_actions_due(conn, now, within=within, lead=person)
                    found += [r for r in own if r not in found]
                found.sort(key=lambda r: r["due_at"])
                text = digest_text(day, "your cases" if "managers" not in held else "your teams' cases", found)
                if text is None:
                    continue
                item = await conn.fetchval(
                    "INSERT INTO notifications (kind, recipient, subject, body, digest_key)"
                    " VALUES ('digest', $1, $2, $3, $4) ON CONFLICT (digest_key) DO NOTHING RETURNING id",
                    person,
                    *text,
                    f"{day}/{person}",
                )
                if item is not None:
                    written.append(item)
        if self.deliver and written:
            await start_follow_ups([delivery(item) for item in written])
        return written
