"""Delivery of the outbox through GOV.UK Notify (README "What is sent to whom"): the real
`notifications-python-client` against the local Notify stand-in (starter/local/notify_standin.py), which
checks the API key's token as Notify does and can answer 500, 429 and permanent failures. On a
time-skipping server of its own: the deliveries' status checks wait on durable timers."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient
from temporalio import activity

from activities.delivery import DeliveryActivities, Directory, reference
from activities.store import CaseActivities
from starter.local.notify_standin import Standin, api_key, build_app
from starter.local.samples import sample_referral
from tests.servers import own_time_skipping_server
from tests.support import LEAD, SCREENER, Case, eventually, new_case_id
from worker.main import new_worker
from worker.sealing import PLAIN
from workflows.delivery import OutboxSweep

SERVICE, SECRET = str(uuid.uuid4()), str(uuid.uuid4())
EMAILS = {"manager:Central": "central-managers@council.example", "mash": "mash@council.example",
          LEAD: "jo.jones@council.example"}
TEMPLATES = {kind: f"template-{kind}" for kind in ("referrer_feedback", "reminder", "escalation", "mash_referral",
                                                   "social_care_feedback", "delivery_failed")}


env = own_time_skipping_server()


@pytest.fixture(scope="module")
async def notify(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Standin, str]]:
    standin = Standin(SERVICE, SECRET, tmp_path_factory.mktemp("notify") / "sent.jsonl")
    runner = web.AppRunner(build_app(standin))
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield standin, f"http://127.0.0.1:{port}"
    await runner.cleanup()


class CrashAfterSending(DeliveryActivities):
    """The first send reaches Notify, then the worker 'dies' before recording it."""

    crashed: set[int] = set()

    @activity.defn(name="deliver")
    async def deliver(self, item_id: int) -> str:
        if item_id in self.crash_items and item_id not in self.crashed:
            await DeliveryActivities.deliver(self, item_id)
            await self.pool.execute("UPDATE notifications SET notify_id = NULL WHERE id = $1", item_id)
            self.crashed.add(item_id)
            raise RuntimeError("worker killed mid-delivery")
        return await DeliveryActivities.deliver(self, item_id)


@pytest.fixture(scope="module")
async def queue(env, pool, notify) -> AsyncIterator[tuple[str, CrashAfterSending]]:
    standin, url = notify
    key = api_key(SERVICE, SECRET)
    delivery = CrashAfterSending(pool, PLAIN, lambda: NotificationsAPIClient(key, base_url=url),
                                 Directory(EMAILS, TEMPLATES))
    delivery.crash_items = set()
    name = f"delivery-{uuid.uuid4().hex[:8]}"
    async with new_worker(env.client, CaseActivities(pool, deliver=True), name, delivery,
                          workflow_failure_exception_types=[Exception]):
        yield name, delivery


async def referral_feedback(env, queue: str, pool, contact: str) -> tuple[Case, int]:
    referral = sample_referral(new_case_id(), await env.get_current_time())
    referral = referral.model_copy(update={"referrer": referral.referrer.model_copy(update={"contact": contact})})
    case = await Case.start(env, queue, referral=referral)
    await case.do("record_screening", {"by": SCREENER, "decision": "accept"})
    await case.wait_saved(pool)
    item = await pool.fetchval("SELECT id FROM notifications WHERE case_id = $1 AND kind = 'referrer_feedback'",
                               case.case_id)
    return case, item


async def final(pool, item: int) -> dict[str, Any]:
    async def settled() -> dict[str, Any] | None:
        row = await pool.fetchrow("SELECT * FROM notifications WHERE id = $1", item)
        return dict(row) if row and row["final_at"] else None

    return await eventually(settled, within=60)


def sent_with(standin: Standin, item: int) -> list[dict[str, Any]]:
    return [n for n in standin.sent.values() if n["reference"] == reference(item)]


async def test_referrer_feedback_is_delivered_once_and_its_status_followed_until_final(env, queue, pool, notify):
    standin, _ = notify
    case, item = await referral_feedback(env, queue[0], pool, "dsl@school.example")
    row = await final(pool, item)
    assert row["delivery_status"] == "delivered" and row["notify_id"] and row["sent_at"]
    [sent] = sent_with(standin, item)
    assert sent["email_address"] == "dsl@school.example" and sent["template_id"] == "template-referrer_feedback"
    assert sent["personalisation"]["case_id"] == case.case_id and "accepted" in sent["personalisation"]["body"]


@pytest.mark.parametrize("contact", ["dsl+flaky@school.example", "dsl+busy@school.example"])
async def test_an_outage_or_a_rate_limit_at_notify_delays_the_delivery_never_drops_it(env, queue, pool, notify,
                                                                                      contact):
    standin, _ = notify
    _, item = await referral_feedback(env, queue[0], pool, contact)
    assert (await final(pool, item))["delivery_status"] == "delivered"
    assert len(sent_with(standin, item)) == 1 and contact in standin.refused_once


async def test_a_worker_killed_mid_delivery_never_sends_twice(env, queue, pool, notify):
    """The email went, the worker died before recording it: the retry finds it at Notify by its reference."""
    standin, _ = notify
    name, delivery = queue
    case_id = new_case_id()
    # Crash on the next item the store writes for this case (its referrer feedback).
    next_id = await pool.fetchval("SELECT coalesce(max(id), 0) + 1 FROM notifications")
    delivery.crash_items = set(range(next_id, next_id + 5))
    referral = sample_referral(case_id, await env.get_current_time())
    case = await Case.start(env, name, referral=referral)
    await case.do("record_screening", {"by": SCREENER, "decision": "accept"})
    await case.wait_saved(pool)
    item = await pool.fetchval("SELECT id FROM notifications WHERE case_id = $1 AND kind = 'referrer_feedback'",
                               case_id)
    assert (await final(pool, item))["delivery_status"] == "delivered"
    assert item in delivery.crashed and len(sent_with(standin, item)) == 1


async def test_a_permanent_failure_is_escalated_to_the_localitys_manager(env, queue, pool, notify):
    standin, _ = notify
    case, item = await referral_feedback(env, queue[0], pool, "gone+fail@school.example")
    assert (await final(pool, item))["delivery_status"] == "permanent-failure"
    escalation = await eventually(lambda: pool.fetchrow(
        "SELECT * FROM notifications WHERE case_id = $1 AND kind = 'delivery_failed'", case.case_id))
    assert (await final(pool, escalation["id"]))["delivery_status"] == "delivered"
    [sent] = sent_with(standin, escalation["id"])
    assert sent["email_address"] == EMAILS["manager:Central"] and "could not be delivered" in \
        sent["personalisation"]["body"] and "gone" not in json.dumps(sent)


async def test_a_recipient_with_no_address_fails_at_once_and_is_escalated(env, queue, pool):
    case = await Case.start(env, queue[0], referral=sample_referral(new_case_id(), await env.get_current_time()))
    await case.wait_saved(pool)
    await pool.execute("INSERT INTO notifications (case_id, seq, kind, recipient, subject, body, created_at) VALUES"
                       " ($1, 1, 'reminder', 'lp-nobody', 's', 'b', now() - interval '5 minutes')", case.case_id)
    item = await pool.fetchval("SELECT id FROM notifications WHERE case_id = $1 AND kind = 'reminder'", case.case_id)
    await env.client.execute_workflow(OutboxSweep.run, id=f"sweep-{uuid.uuid4().hex[:6]}", task_queue=queue[0])
    row = await final(pool, item)
    assert row["failure"] == "no-address" and row["notify_id"] is None
    assert await eventually(lambda: pool.fetchval(
        "SELECT count(*) FROM notifications WHERE case_id = $1 AND kind = 'delivery_failed'", case.case_id))
    await case.handle.terminate("test over")


async def test_a_safeguarding_step_up_is_emailed_to_the_mash_mailbox_at_once(env, queue, pool, notify):
    standin, _ = notify
    case = await Case.start(env, queue[0], referral=sample_referral(new_case_id(), await env.get_current_time()))
    await case.handle.signal("safeguarding_concern", {"by": LEAD, "details": "bruising seen"})
    await case.wait_saved(pool)
    item = await eventually(lambda: pool.fetchval(
        "SELECT id FROM notifications WHERE case_id = $1 AND kind = 'mash_referral'", case.case_id))
    assert (await final(pool, item))["delivery_status"] == "delivered"
    [sent] = sent_with(standin, item)
    assert sent["email_address"] == EMAILS["mash"] and case.case_id in sent["personalisation"]["subject"]
    await case.handle.terminate("test over")


async def test_the_sweep_delivers_what_was_written_while_no_delivery_started(env, queue, pool, notify):
    """An item whose delivery never started (the store's start failed) is started by the sweep: never lost."""
    standin, _ = notify
    case = await Case.start(env, queue[0], referral=sample_referral(new_case_id(), await env.get_current_time()))
    await case.wait_saved(pool)
    await pool.execute("INSERT INTO notifications (case_id, seq, kind, recipient, subject, body, created_at) VALUES"
                       " ($1, 1, 'reminder', $2, 'Case reminder', 'due', now() - interval '5 minutes')",
                       case.case_id, LEAD)
    item = await pool.fetchval("SELECT id FROM notifications WHERE case_id = $1 AND kind = 'reminder'", case.case_id)
    started = await env.client.execute_workflow(OutboxSweep.run, id=f"sweep-{uuid.uuid4().hex[:6]}",
                                                task_queue=queue[0])
    assert started >= 1
    assert (await final(pool, item))["delivery_status"] == "delivered"
    assert [s["email_address"] for s in sent_with(standin, item)] == [EMAILS[LEAD]]
    await case.handle.terminate("test over")


async def test_the_standin_refuses_a_token_not_signed_with_the_keys_secret(notify):
    """As Notify does: a client with another key's secret is refused (403)."""
    _, url = notify
    wrong = NotificationsAPIClient(api_key(SERVICE, str(uuid.uuid4())), base_url=url)
    with pytest.raises(HTTPError) as refused:
        await asyncio.to_thread(wrong.get_all_notifications)
    assert refused.value.status_code == 403
