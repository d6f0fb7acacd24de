"""Notify's statuses followed in bulk (activities/statuses.py): one list call for everything a worker sent,
against the Notify stand-in, which lists as Notify does (newest first, 250 a page)."""

from __future__ import annotations

import asyncio
import os
import uuid

from notifications_python_client.notifications import NotificationsAPIClient

from activities.notify_calls import NotifyCalls
from activities.statuses import Statuses
from starter.local.notify_standin import PAGE, api_key
from tests.notify import SECRET, SERVICE, notify_standin

notify = notify_standin()


def client(url: str) -> NotificationsAPIClient:
    return NotificationsAPIClient(api_key(SERVICE, SECRET), base_url=url)


async def send(url: str, address: str) -> str:
    sent = await asyncio.to_thread(
        client(url).send_email_notification,
        email_address=address,
        template_id="template-reminder",
        reference=f"statuses-{uuid.uuid4()}",
    )
    return str(sent["id"])


async def test_thirty_messages_are_followed_to_final_by_one_list_call_and_none_is_read_on_its_own(pool, notify):
    standin, url = notify
    ids = [await send(url, f"person{n}@council.example") for n in range(29)]
    ids.append(await send(url, "person+fail@council.example"))
    statuses = Statuses(pool, lambda: NotifyCalls(lambda: client(url)), every=0.05, follow_for=30)

    answers = await asyncio.gather(*(statuses.final(n, notify_id) for n, notify_id in enumerate(ids)))

    assert answers == ["delivered"] * 29 + ["permanent-failure"]
    assert statuses.reads == 1
    assert not set(ids) & set(standin.read_by_id)


async def test_a_message_listed_beyond_the_first_page_is_found_on_the_next(pool, notify):
    """More sent since than a page holds: the read goes on with `older_than`, Notify's way of paging."""
    _, url = notify
    followed = await send(url, "early@council.example")
    for n in range(PAGE):
        await send(url, f"later{n}@council.example")
    statuses = Statuses(pool, lambda: NotifyCalls(lambda: client(url)), every=0.05, follow_for=30)

    assert await statuses.final(1, followed) == "delivered"
    assert statuses.reads == 2


async def test_a_message_notify_does_not_list_is_given_back_as_sending_when_its_time_is_up(pool, notify):
    """Not listed (Notify down, or far more sent since than the pages read): the caller hands it to a Delivery
    workflow, which follows it by its id."""
    _, url = notify
    statuses = Statuses(pool, lambda: NotifyCalls(lambda: client(url)), every=0.05, follow_for=0.2)
    assert await statuses.final(1, str(uuid.uuid4())) == "sending"
    assert statuses.reads >= 1


async def test_calls_to_notify_keep_a_client_a_thread_so_its_connection_stays_open(notify):
    """A client made for every call opened a new connection to Notify for every message."""
    _, url = notify
    made: list[NotificationsAPIClient] = []

    def make() -> NotificationsAPIClient:
        made.append(client(url))
        return made[-1]

    calls = NotifyCalls(make)
    notify_id = await send(url, "kept@council.example")
    for _ in range(20):
        assert (await calls.call("get_notification_by_id", notify_id))["status"] == "delivered"
    assert 1 <= len(made) <= min(32, (os.cpu_count() or 1) + 4)  # at most one for each of asyncio's threads


async def test_an_answer_that_is_not_as_notify_answers_is_passed_over_and_what_is_sound_in_it_is_recorded(pool):
    """Notify's answer is input like any other: a malformed entry is passed over (its message is left to its
    Delivery workflow when its time is up), never a reason to drop the rest of the page."""

    class Answers:
        async def call(self, method: str, /, *args: object, **kwargs: object) -> object:
            assert method == "get_all_notifications"
            return {
                "notifications": [
                    "not a notification",
                    {"id": ["not", "an", "id"], "status": "delivered"},
                    {"id": "odd-status", "status": {"nested": "delivered"}},
                    {"id": "x" * 3_000_000, "status": "delivered"},
                    {"id": "sound", "status": "delivered"},
                ],
                "links": "not links",
            }

    statuses = Statuses(pool, Answers, every=0.05, follow_for=0.3)  # type: ignore[arg-type]
    answers = await asyncio.gather(*(statuses.final(n, i) for n, i in enumerate(["odd-status", "sound", "unlisted"])))
    assert answers == ["sending", "delivered", "sending"]


async def test_a_status_is_taken_as_known_only_once_it_is_recorded(notify):
    """The database down as the statuses are read: the message is given back as not final, so its Delivery
    workflow follows it and records its status, rather than the worker taking as settled what no row says."""
    _, url = notify
    notify_id = await send(url, "unrecorded@council.example")

    class Down:
        async def execute(self, *args: object) -> str:
            raise OSError("the database is down")

    statuses = Statuses(Down(), lambda: NotifyCalls(lambda: client(url)), every=0.05, follow_for=0.3)  # type: ignore[arg-type]
    assert await statuses.final(1, notify_id) == "sending"
    assert statuses.reads >= 2  # (read again each time: nothing taken as known)
