"""Delivery of the outbox through GOV.UK Notify (README "What is sent to whom"): the real
`notifications-python-client` against the local Notify stand-in (starter/local/notify_standin.py), which
checks the API key's token as Notify does and can answer 500, 429 and permanent failures. On a
time-skipping server of its own: the deliveries' status checks wait on durable timers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Replayer

from activities.delivery import KINDS, DeliveryActivities, Directory, post_letter, reference
from activities.digest import digest_text
from activities.store import CaseActivities
from starter.local.notify_standin import api_key
from starter.local.samples import sample_referral
from tests.notify import EMAILS, ROLES, SECRET, SERVICE, TEMPLATES, final, notify_standin, sent_with
from tests.servers import own_time_skipping_server
from tests.support import LEAD, MANAGER, SCREENER, Case, end, eventually, new_case_id
from worker.authz import Roles
from worker.main import new_worker
from worker.sandbox import workflow_runner
from worker.sealing import PLAIN
from workflows.calendar import spoken_time
from workflows.delivery import SEND_GIVES_UP, Delivery, OutboxSweep
from workflows.mash import ACKNOWLEDGE_WITHIN, MashReferralWatch, watch_id
from workflows.models import MashAcknowledgement, StepDown

env = own_time_skipping_server()


notify = notify_standin()


class CrashAfterSending(DeliveryActivities):
    """The first send reaches Notify, then the worker 'dies' before recording it."""

    crashed: set[int] = set()

    async def send_once(self, item_id: int, look_first: bool) -> str:
        if item_id in self.crash_items and item_id not in self.crashed:
            await DeliveryActivities.send_once(self, item_id, look_first)
            await self.pool.execute("UPDATE notifications SET notify_id = NULL WHERE id = $1", item_id)
            self.crashed.add(item_id)
            raise RuntimeError("worker killed mid-delivery")
        return await DeliveryActivities.send_once(self, item_id, look_first)


@pytest.fixture(scope="module")
async def queue(env, pool, notify) -> AsyncIterator[tuple[str, CrashAfterSending]]:
    standin, url = notify
    key = api_key(SERVICE, SECRET)
    delivery = CrashAfterSending(
        pool, PLAIN, lambda: NotificationsAPIClient(key, base_url=url), Directory(EMAILS, TEMPLATES), first_look=0.05
    )
    delivery.crash_items = set()
    name = f"delivery-{uuid.uuid4().hex[:8]}"
    store = CaseActivities(pool, deliver=True, watch=True, dispatch=delivery.dispatch)  # as the worker runs it
    async with new_worker(env.client, store, name, delivery, ROLES):
        yield name, delivery


async def referral_feedback(env, queue: str, pool, contact: str) -> tuple[Case, int]:
    referral = sample_referral(new_case_id(), await env.get_current_time())
    referral = referral.model_copy(update={"referrer": referral.referrer.model_copy(update={"contact": contact})})
    case = await Case.start(env, queue, referral=referral)
    await case.do("record_screening", {"by": SCREENER, "decision": "accept"})
    await case.wait_saved(pool)
    item = await pool.fetchval(
        "SELECT id FROM notifications WHERE case_id = $1 AND kind = 'referrer_feedback'", case.case_id
    )
    return case, item


async def test_referrer_feedback_is_delivered_once_and_its_status_followed_until_final(env, queue, pool, notify):
    """Sent by the worker as soon as its save committed, its status read until final: no workflow of its own."""
    standin, _ = notify
    case, item = await referral_feedback(env, queue[0], pool, "dsl@school.example")
    row = await final(pool, item)
    assert row["delivery_status"] == "delivered" and row["notify_id"] and row["sent_at"]
    with pytest.raises(RPCError):  # (not found)
        await env.client.get_workflow_handle(f"delivery-{item}").describe()
    assert item not in queue[1].handed_over
    assert reference(item) not in standin.looked_up  # a first send asks Notify nothing first
    [sent] = sent_with(standin, item)
    assert sent["email_address"] == "dsl@school.example" and sent["template_id"] == "template-referrer_feedback"
    assert sent["personalisation"]["case_id"] == case.case_id and "accepted" in sent["personalisation"]["body"]


@pytest.mark.parametrize("contact", ["dsl+flaky@school.example", "dsl+busy@school.example"])
async def test_an_outage_or_a_rate_limit_at_notify_delays_the_delivery_never_drops_it(
    env, queue, pool, notify, contact
):
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
    item = await pool.fetchval(
        "SELECT id FROM notifications WHERE case_id = $1 AND kind = 'referrer_feedback'", case_id
    )
    assert (await final(pool, item))["delivery_status"] == "delivered"
    assert item in delivery.crashed and len(sent_with(standin, item)) == 1
    assert reference(item) in standin.looked_up  # the retry asked Notify for it, and found it


async def test_a_message_notify_refuses_for_six_hours_is_escalated_never_retried_for_ever(env, queue, pool, notify):
    """Notify answers every send with 500: the send's retries end after six hours (SEND_GIVES_UP) and the
    locality's manager is told the message could not be delivered."""
    standin, _ = notify
    case, item = await referral_feedback(env, queue[0], pool, "dsl+down@school.example")
    # Refused in the worker's three tries at once, it is handed to a Delivery workflow, which retries durably.
    await eventually(lambda: _true(item in queue[1].handed_over))
    delivery = env.client.get_workflow_handle(f"delivery-{item}")
    await env.sleep(SEND_GIVES_UP - timedelta(minutes=10))
    assert (await delivery.describe()).status == WorkflowExecutionStatus.RUNNING  # still trying
    await env.sleep(timedelta(minutes=20))
    assert await delivery.result() == "failed"
    history = await delivery.fetch_history()  # patch send-retries-end's branch replays
    assert any(e.marker_recorded_event_attributes.marker_name == "core_patch" for e in history.events)
    replayer = Replayer(workflows=[Delivery], data_converter=pydantic_data_converter, workflow_runner=workflow_runner())
    assert (await replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure is None
    escalation = await eventually(
        lambda: pool.fetchval(
            "SELECT id FROM notifications WHERE case_id = $1 AND kind = 'delivery_failed'", case.case_id
        )
    )
    assert (await final(pool, escalation))["delivery_status"] == "delivered"
    assert [s["email_address"] for s in sent_with(standin, escalation)] == [EMAILS["manager:Central"]]
    assert sent_with(standin, item) == []
    await end(case.handle)


async def _true(value: bool) -> bool:
    return value


async def test_a_message_sent_by_a_worker_that_died_before_its_status_was_final_is_followed_by_the_sweep(
    env, queue, pool, notify
):
    """The worker sent it and died while reading its status: the sweep hands it to a Delivery workflow, which
    reads its status until final, and it is not sent again."""
    standin, _ = notify
    case, item = await referral_feedback(env, queue[0], pool, "dsl@school.example")
    await final(pool, item)
    await pool.execute(  # as if the status had never been read, two minutes ago and more
        "UPDATE notifications SET delivery_status = 'sending', final_at = NULL, sent_at = now() - interval '5 minutes'"
        " WHERE id = $1",
        item,
    )
    assert await env.client.execute_workflow(OutboxSweep.run, id=f"sweep-{uuid.uuid4().hex[:6]}", task_queue=queue[0])
    assert await env.client.get_workflow_handle(f"delivery-{item}").result() == "delivered"
    assert (await final(pool, item))["delivery_status"] == "delivered" and len(sent_with(standin, item)) == 1
    await end(case.handle)


async def test_a_permanent_failure_is_escalated_to_the_localitys_manager(env, queue, pool, notify):
    standin, _ = notify
    case, item = await referral_feedback(env, queue[0], pool, "gone+fail@school.example")
    assert (await final(pool, item))["delivery_status"] == "permanent-failure"
    escalation = await eventually(
        lambda: pool.fetchrow(
            "SELECT * FROM notifications WHERE case_id = $1 AND kind = 'delivery_failed'", case.case_id
        )
    )
    assert (await final(pool, escalation["id"]))["delivery_status"] == "delivered"
    [sent] = sent_with(standin, escalation["id"])
    assert (
        sent["email_address"] == EMAILS["manager:Central"]
        and "could not be delivered" in sent["personalisation"]["body"]
        and "gone" not in json.dumps(sent)
    )


async def test_a_referrer_with_only_a_phone_number_is_escalated_at_once_by_the_worker(env, queue, pool, notify):
    """Referrer feedback to a phone number (no email address): the worker's send fails it at once as no-address
    and tells the locality's manager, with no workflow for either and no retry."""
    case, item = await referral_feedback(env, queue[0], pool, "01632 960000")
    row = await final(pool, item)
    assert row["failure"] == "no-address" and row["notify_id"] is None
    escalation = await eventually(
        lambda: pool.fetchval(
            "SELECT id FROM notifications WHERE case_id = $1 AND kind = 'delivery_failed'", case.case_id
        )
    )
    assert (await final(pool, escalation))["delivery_status"] == "delivered"
    assert item not in queue[1].handed_over
    with pytest.raises(RPCError):  # (not found: settled by the worker)
        await env.client.get_workflow_handle(f"delivery-{item}").describe()
    await end(case.handle)


async def test_a_recipient_with_no_address_fails_at_once_and_is_escalated(env, queue, pool):
    case = await Case.start(env, queue[0], referral=sample_referral(new_case_id(), await env.get_current_time()))
    await case.wait_saved(pool)
    await pool.execute(
        "INSERT INTO notifications (case_id, seq, kind, recipient, subject, body, created_at) VALUES"
        " ($1, 1, 'reminder', 'lp-nobody', 's', 'b', now() - interval '5 minutes')",
        case.case_id,
    )
    item = await pool.fetchval("SELECT id FROM notifications WHERE case_id = $1 AND kind = 'reminder'", case.case_id)
    await env.client.execute_workflow(OutboxSweep.run, id=f"sweep-{uuid.uuid4().hex[:6]}", task_queue=queue[0])
    row = await final(pool, item)
    assert row["failure"] == "no-address" and row["notify_id"] is None
    assert await eventually(
        lambda: pool.fetchval(
            "SELECT count(*) FROM notifications WHERE case_id = $1 AND kind = 'delivery_failed'", case.case_id
        )
    )
    await end(case.handle)


async def test_a_safeguarding_step_up_is_emailed_to_the_mash_mailbox_at_once(env, queue, pool, notify):
    standin, _ = notify
    case = await Case.start(env, queue[0], referral=sample_referral(new_case_id(), await env.get_current_time()))
    await case.handle.signal("safeguarding_concern", {"by": LEAD, "details": "bruising seen"})
    await case.wait_saved(pool)
    item = await eventually(
        lambda: pool.fetchval(
            "SELECT id FROM notifications WHERE case_id = $1 AND kind = 'mash_referral'", case.case_id
        )
    )
    assert (await final(pool, item))["delivery_status"] == "delivered"
    [sent] = sent_with(standin, item)
    assert sent["email_address"] == EMAILS["mash"] and case.case_id in sent["personalisation"]["subject"]
    await end(case.handle)


async def test_the_sweep_delivers_what_was_written_while_no_delivery_started(env, queue, pool, notify):
    """An item whose delivery never started (the store's start failed) is started by the sweep: never lost."""
    standin, _ = notify
    case = await Case.start(env, queue[0], referral=sample_referral(new_case_id(), await env.get_current_time()))
    await case.wait_saved(pool)
    await pool.execute(
        "INSERT INTO notifications (case_id, seq, kind, recipient, subject, body, created_at) VALUES"
        " ($1, 1, 'reminder', $2, 'Case reminder', 'due', now() - interval '5 minutes')",
        case.case_id,
        LEAD,
    )
    item = await pool.fetchval("SELECT id FROM notifications WHERE case_id = $1 AND kind = 'reminder'", case.case_id)
    started = await env.client.execute_workflow(
        OutboxSweep.run, id=f"sweep-{uuid.uuid4().hex[:6]}", task_queue=queue[0]
    )
    assert started >= 1
    assert (await final(pool, item))["delivery_status"] == "delivered"
    assert [s["email_address"] for s in sent_with(standin, item)] == [EMAILS[LEAD]]
    await end(case.handle)


async def test_a_letter_is_posted_once_through_notifys_letter_api_and_a_bad_address_is_escalated(
    env, queue, pool, notify
):
    """A case's letter sent by post (activities/delivery.post_letter, the web app's "send a copy by post"):
    through Notify's letter API with the address a line each, received by the printer; asked twice, posted once.
    An address Notify refuses (no real postcode) fails at once and the locality's managers are told."""
    standin, _ = notify
    case = await Case.start(env, queue[0], referral=sample_referral(new_case_id(), await env.get_current_time()))
    await case.wait_saved(pool)
    for seq, text in ((1, "We called at your home"), (2, "A second letter")):
        await pool.execute(
            "INSERT INTO documents (case_id, seq, kind, text) VALUES ($1, $2, 'visit_letter', $3)",
            case.case_id,
            seq,
            text,
        )
    first, second = [
        r["id"] for r in await pool.fetch("SELECT id FROM documents WHERE case_id = $1 ORDER BY seq", case.case_id)
    ]
    address = ["Zoë Ní Bhriain", "2 Mill Lane", "Calderbrook", "CB1 1AA"]
    async with pool.acquire() as conn:
        item = await post_letter(conn, case.case_id, first, address, PLAIN)
        assert item is not None and await post_letter(conn, case.case_id, first, address, PLAIN) is None
        bad = await post_letter(conn, case.case_id, second, ["Zoë Ní Bhriain", "2 Mill Lane", "nowhere"], PLAIN)
    await env.client.start_workflow("Delivery", item, id=f"delivery-{item}", task_queue=queue[0])
    await env.client.start_workflow("Delivery", bad, id=f"delivery-{bad}", task_queue=queue[0])
    assert (await final(pool, item))["delivery_status"] == "received"
    [sent] = sent_with(standin, item)
    assert sent["type"] == "letter" and sent["address"] == address and sent["template_id"] == "template-posted_letter"
    assert sent["personalisation"]["body"] == "We called at your home"
    assert (await final(pool, bad))["failure"] == "refused-400" and not sent_with(standin, bad)
    assert await eventually(
        lambda: pool.fetchval(
            "SELECT count(*) FROM notifications WHERE case_id = $1 AND kind = 'delivery_failed'", case.case_id
        )
    )
    await end(case.handle)


async def test_the_standin_refuses_a_token_not_signed_with_the_keys_secret(notify):
    """As Notify does: a client with another key's secret is refused (403)."""
    _, url = notify
    wrong = NotificationsAPIClient(api_key(SERVICE, str(uuid.uuid4())), base_url=url)
    with pytest.raises(HTTPError) as refused:
        await asyncio.to_thread(wrong.get_all_notifications)
    assert refused.value.status_code == 403


async def mash_referral(env, queue: str, pool) -> tuple[Case, int]:
    """A case stepped up by a safeguarding concern; returns it and its referral's seq."""
    case = await Case.start(env, queue, referral=sample_referral(new_case_id(), await env.get_current_time()))
    await case.handle.signal("safeguarding_concern", {"by": LEAD, "details": "bruising seen"})
    await case.wait_saved(pool)
    seq = await eventually(lambda: pool.fetchval("SELECT seq FROM mash_referrals WHERE case_id = $1", case.case_id))
    return case, seq


async def watched_referral(env, queue: str, pool) -> tuple[Case, Any]:
    """A case stepped up, and its referral's watch once the store has started it."""
    case, seq = await mash_referral(env, queue, pool)
    watch = env.client.get_workflow_handle(watch_id(case.case_id, seq), result_type=MashAcknowledgement)

    async def started() -> bool:  # (in the background, once the save has committed: not found until then)
        try:
            await watch.describe()
            return True
        except RPCError:
            return False

    await eventually(started)
    return case, watch


async def test_a_mash_referral_not_acknowledged_within_an_hour_is_escalated_to_the_duty_manager(
    env, queue, pool, notify
):
    """Policy default: MASH acknowledges a referral within one hour; missed, the duty manager is told (issue #15)."""
    standin, _ = notify
    case, watch = await watched_referral(env, queue[0], pool)  # started by the store, with the referral
    assert await pool.fetchval("SELECT escalated_at FROM mash_referrals WHERE case_id = $1", case.case_id) is None
    await env.sleep(ACKNOWLEDGE_WITHIN + timedelta(minutes=1))
    item = await eventually(
        lambda: pool.fetchval(
            "SELECT id FROM notifications WHERE case_id = $1 AND kind = 'mash_unacknowledged'", case.case_id
        )
    )
    assert (await final(pool, item))["delivery_status"] == "delivered"
    [sent] = sent_with(standin, item)
    assert sent["email_address"] == EMAILS["duty_manager"] and case.case_id in sent["personalisation"]["body"]
    referred = await pool.fetchval("SELECT referred_at FROM mash_referrals WHERE case_id = $1", case.case_id)
    assert f"made at {spoken_time(referred)}," in sent["personalisation"]["body"]  # London time, never UTC
    assert await pool.fetchval("SELECT escalated_at FROM mash_referrals WHERE case_id = $1", case.case_id)
    # Acknowledged late all the same: who and when are recorded, and the watch ends.
    ack = await watch.execute_update("acknowledge", MashAcknowledgement(by="mash-obi"), result_type=MashAcknowledgement)
    row = await pool.fetchrow("SELECT * FROM mash_referrals WHERE case_id = $1", case.case_id)
    assert row["acknowledged_by"] == "mash-obi" and row["acknowledged_at"] == ack.at
    assert (await watch.result()).by == "mash-obi"
    await end(case.handle)


async def test_a_mash_referral_acknowledged_in_time_is_never_escalated_and_is_acknowledged_once(env, queue, pool):
    case, watch = await watched_referral(env, queue[0], pool)
    await watch.execute_update("acknowledge", MashAcknowledgement(by="mash-obi"))
    assert (await watch.result()).by == "mash-obi"
    with pytest.raises(RPCError):  # a second acknowledgement of a finished watch changes nothing
        await watch.execute_update("acknowledge", MashAcknowledgement(by="mash-other"))
    row = await pool.fetchrow("SELECT * FROM mash_referrals WHERE case_id = $1", case.case_id)
    assert row["acknowledged_by"] == "mash-obi" and row["escalated_at"] is None
    assert not await pool.fetchval(
        "SELECT count(*) FROM notifications WHERE case_id = $1 AND kind = 'mash_unacknowledged'", case.case_id
    )
    await end(case.handle)


async def test_the_sweep_starts_the_watch_of_a_mash_referral_whose_watch_never_started(env, queue, pool):
    case, watch = await watched_referral(env, queue[0], pool)
    await end(watch, "as if its start had been lost")
    await pool.execute(
        "UPDATE mash_referrals SET referred_at = now() - interval '5 minutes' WHERE case_id = $1", case.case_id
    )
    await env.client.execute_workflow(OutboxSweep.run, id=f"sweep-{uuid.uuid4().hex[:6]}", task_queue=queue[0])
    assert (await watch.describe()).status.name == "RUNNING"  # a new run under the same id
    await watch.execute_update("acknowledge", MashAcknowledgement(by="mash-obi"))
    await end(case.handle)


async def test_a_malformed_concern_and_a_step_down_lead_are_told_to_the_manager_and_the_social_worker(
    env, queue, pool, notify
):
    """The escalation of a malformed concern [DOMAIN 8] and social care's feedback on step-down [004], delivered."""
    standin, _ = notify
    case = await Case.start(env, queue[0], referral=sample_referral(new_case_id(), await env.get_current_time()))
    await case.handle.signal("safeguarding_concern", {"by": LEAD})
    step_down = await Case.start(env, queue[0], step_down=StepDown(social_worker="sw-ahmed"))
    await step_down.do("identify_lead_practitioner", {"by": "sw-ahmed", "practitioner": LEAD, "chosen_by_family": True})
    for kase, kind, to in (
        (case, "escalation", EMAILS["manager:Central"]),
        (step_down, "social_care_feedback", EMAILS["sw-ahmed"]),
    ):
        item = await eventually(
            lambda kase=kase, kind=kind: pool.fetchval(
                "SELECT id FROM notifications WHERE case_id = $1 AND kind = $2", kase.case_id, kind
            )
        )
        assert (await final(pool, item))["delivery_status"] == "delivered"
        assert [s["email_address"] for s in sent_with(standin, item)] == [to]
        await end(kase.handle)


async def test_a_taf_invitation_is_emailed_to_each_invitee_at_their_own_address(env, queue, pool, notify):
    """invite_to_taf (issue #26): each invitee hears when and where the meeting is, at their own address, naming
    the family by the case's reference only: one event, a message to each."""
    standin, _ = notify
    case = await Case.start(env, queue[0], referral=sample_referral(new_case_id(), await env.get_current_time()))
    await case.in_plan()
    meeting = (await env.get_current_time() + timedelta(days=7)).replace(hour=10, minute=30, second=0, microsecond=0)
    invitees = [{"name": "Ms Ade", "email": "ade@school.example"}, {"name": "Dr Khan", "email": "khan@gp.example"}]
    await case.do(
        "invite_to_taf",
        {"by": LEAD, "meeting_at": meeting.isoformat(), "place": "Calder Primary, room 2", "invitees": invitees},
    )

    async def invitations() -> list[int]:
        rows = await pool.fetch(
            "SELECT id FROM notifications WHERE case_id = $1 AND kind = 'taf_invitation' ORDER BY id", case.case_id
        )
        return [r["id"] for r in rows] if len(rows) == 2 else []

    for item, invitee in zip(await eventually(invitations), invitees, strict=True):
        assert (await final(pool, item))["delivery_status"] == "delivered"
        [sent] = sent_with(standin, item)
        body = sent["personalisation"]["body"]
        assert sent["email_address"] == invitee["email"] and f"Dear {invitee['name']}," in body
        assert "at: Calder Primary, room 2" in body and case.case_id in body
    await end(case.handle)


def test_a_digest_lists_what_is_overdue_and_what_falls_due_this_week_by_case_id_only():
    due = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
    rows = [
        {"case_id": "C-1", "locality": "Central", "kind": "taf", "due_at": due, "overdue": True},
        {"case_id": "C-2", "locality": "Central", "kind": "review", "due_at": due, "overdue": False},
    ]
    subject, body = digest_text(date(2026, 12, 2), "your cases", rows)
    assert subject == "Early Help digest: 1 overdue, 1 due this week"
    assert "Overdue (1):\n- Case C-1 (Central): initial Team Around the Family meeting, due Thu 3 Dec 17:00" in body
    assert "Due this week (1):\n- Case C-2 (Central): review, due Thu 3 Dec 17:00" in body
    assert digest_text(date(2026, 12, 2), "your cases", []) is None


async def test_every_kind_of_message_was_delivered_by_these_tests(pool):
    """Issue #15's check: each kind the engine writes reached Notify in this module (the tests above); the
    digest in its own module, on a server it moves from day to day (tests/test_digest.py)."""
    delivered = {
        r["kind"]
        for r in await pool.fetch(
            "SELECT DISTINCT kind FROM notifications WHERE delivery_status IN ('delivered', 'received')"
        )
    }
    assert set(KINDS) - {"digest"} <= delivered, f"never delivered: {sorted(set(KINDS) - delivered)}"


@pytest.mark.parametrize(
    "hostile",
    [
        {"by": "mash\x00obi"},
        {"by": "m" * 3_000_000},
        {"by": 5},
        {"by": "mash-obi", "at": "yesterday"},
        {"by": "mash-obi", "extra": 1},
    ],
)
async def test_a_hostile_acknowledgement_is_refused_by_field_and_wedges_nothing(env, queue, pool, hostile):
    """NUL, 3 MB of text, wrong types and unknown fields: refused naming the field; the watch takes a good one."""
    case, watch = await watched_referral(env, queue[0], pool)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await watch.execute_update("acknowledge", hostile)
    assert refused.value.cause.type == "InvalidCommand" and len(refused.value.cause.message) < 500
    await watch.execute_update("acknowledge", MashAcknowledgement(by="mash-obi"))
    assert (await watch.result()).by == "mash-obi"
    await end(case.handle)


async def test_the_delivery_and_mash_watch_histories_replay_on_the_current_code(env, queue, pool):
    """Determinism of the follow-up workflows: a finished delivery's and a MASH watch's histories replay."""
    case, watch = await watched_referral(env, queue[0], pool)
    await watch.execute_update("acknowledge", MashAcknowledgement(by="mash-obi"))
    await watch.result()
    item = await pool.fetchval(
        "SELECT id FROM notifications WHERE case_id = $1 AND kind = 'mash_referral'", case.case_id
    )
    await final(pool, item)  # sent by the worker at once: a Delivery workflow as the sweep would hand it over
    delivery = await env.client.start_workflow("Delivery", item, id=f"delivery-{item}", task_queue=queue[0])
    assert await delivery.result() == "delivered"
    replayer = Replayer(
        workflows=[Delivery, MashReferralWatch],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    for handle in (watch, delivery):
        result = await replayer.replay_workflow(await handle.fetch_history(), raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure
    await end(case.handle)


def test_only_the_mash_team_acknowledges_and_the_mash_team_gives_no_case_commands():
    """One definition of who may do what (worker/authz.py): `acknowledge` is the MASH team's alone; the MASH
    team reads every locality's cases but records nothing on them. (A token for someone else than `by` is
    refused by the same interceptor as every command: tests/test_identity.py.)"""
    from worker.authz import NotAuthorized

    roles = Roles(
        {"mash-obi": frozenset({"mash"}), LEAD: frozenset({"practitioners"}), MANAGER: frozenset({"managers"})},
        {LEAD: frozenset({"North"}), MANAGER: frozenset({"North"})},
    )
    roles.check("acknowledge", "mash-obi")
    for person in (LEAD, MANAGER, "nobody"):
        with pytest.raises(NotAuthorized):
            roles.check("acknowledge", person)
    for command in ("record_contact_attempt", "add_case_note", "decide_closure"):
        with pytest.raises(NotAuthorized):
            roles.check(command, "mash-obi")
    roles.check("view", "mash-obi")
    assert roles.localities("mash-obi") is None and roles.localities(LEAD) == {"North"}  # every team's, theirs
