"""Notify's statuses of what this worker sent, read in bulk.

Each message the worker sends at once is followed here until its status is
final or FOLLOW_SECONDS pass: every `every` seconds, one call to Notify's list
of the latest messages (GET /v2/notifications, newest first, 250 a page)
answers for all of them, where a read of each would make a call a message
(Notify counts both against the service's rate limit). The statuses read are
recorded in one statement. A message not final by then, or not listed (Notify
down, more sent meanwhile than the pages read), is left to its Delivery
workflow, which follows it by id for days.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from activities.notify_calls import NotifyCalls
from workflows.interfaces import FINAL

MAX_PAGES = 4  # a read goes back at most 1,000 messages (Notify's pages of 250)
log = structlog.get_logger("earlyhelp.delivery")


@dataclass
class _Followed:
    item_id: int
    since: float  # the loop's time when following began
    answer: asyncio.Future[str]
    status: str = "sending"


@dataclass
class Statuses:
    """`notify` gives the calls to Notify; `gate` bounds this worker's calls to Notify at once (the dispatcher's)."""

    pool: asyncpg.Pool
    notify: Callable[[], NotifyCalls]
    every: float
    follow_for: float
    gate: contextlib.AbstractAsyncContextManager[Any] = field(default_factory=contextlib.nullcontext)
    _followed: dict[str, _Followed] = field(default_factory=dict)  # by Notify's id
    _reader: asyncio.Task[None] | None = None
    reads: int = 0  # pages read (for tests)

    async def final(self, item_id: int, notify_id: str) -> str:
        """The message's status once final, or its last status read when FOLLOW_SECONDS have passed."""
        loop = asyncio.get_running_loop()
        followed = self._followed.setdefault(notify_id, _Followed(item_id, loop.time(), loop.create_future()))
        if self._reader is None or self._reader.done():
            self._reader = loop.create_task(self._read_while_followed())
        return await asyncio.shield(followed.answer)

    async def _read_while_followed(self) -> None:
        while self._followed:
            await asyncio.sleep(self.every)
            try:
                await self._read_once()
            except Exception as e:  # noqa: BLE001 (Notify or the database down: the Delivery workflows follow up)
                log.info("statuses not read", error_type=type(e).__name__, following=len(self._followed))
            now = asyncio.get_running_loop().time()
            for notify_id, f in list(self._followed.items()):
                if f.status in FINAL or now - f.since >= self.follow_for:
                    del self._followed[notify_id]
                    if not f.answer.done():
                        f.answer.set_result(f.status)

    async def _read_once(self) -> None:
        wanted, changed = set(self._followed), {}
        notify, older_than = self.notify(), None
        for _ in range(MAX_PAGES):
            async with self.gate:
                page = await notify.call("get_all_notifications", older_than=older_than)
            self.reads += 1
            page = page if isinstance(page, dict) else {}
            listed = [n for n in page.get("notifications") or [] if isinstance(n, dict) and _text(n.get("id"))]
            for n in listed:
                if n["id"] in wanted:
                    wanted.discard(n["id"])
                    if _text(n.get("status")) and n["status"] != self._followed[n["id"]].status:
                        changed[n["id"]] = n["status"]
            links = page.get("links")
            if not wanted or not listed or not (isinstance(links, dict) and links.get("next")):
                break
            older_than = listed[-1]["id"]
        if changed:
            followed = [self._followed[notify_id] for notify_id in changed]
            await self.pool.execute(
                "UPDATE notifications n SET delivery_status = s.status,"
                " final_at = CASE WHEN s.status = ANY($3::text[]) THEN now() ELSE n.final_at END"
                " FROM unnest($1::bigint[], $2::text[]) AS s(id, status) WHERE n.id = s.id",
                [f.item_id for f in followed],
                list(changed.values()),
                sorted(FINAL),
            )
            for f, status in zip(followed, changed.values(), strict=True):  # (known once recorded)
                f.status = status


def _text(value: object) -> bool:
    """A short string, as Notify's ids and statuses are: anything else in its answer is passed over."""
    return isinstance(value, str) and 0 < len(value) <= 100
