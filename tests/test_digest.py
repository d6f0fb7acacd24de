"""The daily digest (workflows/digest.py) on every kind of day, delivered through the Notify stand-in.

On a time-skipping server of its own with nothing else running, so moving it on by days or months
(tests/days.py) fires no other test's timers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from notifications_python_client.notifications import NotificationsAPIClient

from activities.delivery import DeliveryActivities, Directory
from activities.store import CaseActivities
from starter.local.notify_standin import api_key
from starter.local.samples import sample_referral
from tests.days import DAYS, move_to
from tests.notify import EMAILS, ROLES, SECRET, SERVICE, TEMPLATES, final, notify_standin, sent_with
from tests.servers import own_time_skipping_server
from tests.support import LEAD, MANAGER, SCREENER, Case, end, new_case_id
from worker.main import new_worker
from worker.sealing import PLAIN
from workflows.bank_holidays import LATEST
from workflows.calendar import is_working_day, local_date
from workflows.digest import DailyDigest

env = own_time_skipping_server()
notify = notify_standin()


@pytest.fixture(scope="module")
async def queue(env, pool, notify) -> AsyncIterator[list[str]]:
    _, url = notify
    key = api_key(SERVICE, SECRET)
    delivery = DeliveryActivities(
        pool, PLAIN, lambda: NotificationsAPIClient(key, base_url=url), Directory(EMAILS, TEMPLATES), first_look=0.05
    )
    name = f"digest-{uuid.uuid4().hex[:8]}"
    async with new_worker(env.client, CaseActivities(pool, deliver=True), name, delivery, ROLES):
        yield [name]


@pytest.mark.parametrize("day", DAYS)
async def test_each_working_morning_managers_and_leads_get_a_digest_of_what_is_due(env, queue, pool, notify, day):
    """The daily digest (issue #15) on each day of the week, a bank holiday and either side of the clock change
    (the server moved there): a manager hears of their localities' deadlines, a lead of their own, each deadline
    listed if it is overdue or falls due by Sunday; once a day each, whatever reruns; on a weekend or a bank
    holiday nobody hears anything."""
    standin, _ = notify
    morning = await move_to(env, day)
    case = await Case.start(env, queue[0], referral=sample_referral(new_case_id(), morning))
    await case.do("record_screening", {"by": SCREENER, "decision": "accept"})
    await case.do("allocate", {"by": MANAGER, "lead_practitioner": LEAD})
    await case.wait_saved(pool)
    today = local_date(await env.get_current_time())
    # Time held still while the digests run: awaiting a result would let the server skip to the next timer.
    with env.auto_time_skipping_disabled():
        written, again = [
            await env.client.execute_workflow(DailyDigest.run, id=f"digest-{uuid.uuid4().hex[:6]}", task_queue=queue[0])
            for _ in range(2)
        ]
    rows = await pool.fetch("SELECT * FROM notifications WHERE kind = 'digest' AND digest_key LIKE $1", f"{today}/%")
    await end(case.handle)
    if not is_working_day(today, LATEST):
        assert written == again == 0 and not rows
        return
    assert written == len(rows) and again == 0
    first_due = await pool.fetchval(
        "SELECT min(due_at) FROM deadlines WHERE case_id = $1 AND status = 'pending'", case.case_id
    )
    listed = {r["recipient"] for r in rows if case.case_id in r["body"]}
    sunday = today + timedelta(days=6 - today.weekday())
    if local_date(first_due) > sunday:  # e.g. on a Thursday, first contact is due two working days on: next week
        assert not listed
        return
    assert listed == {MANAGER, LEAD}
    item = next(r["id"] for r in rows if r["recipient"] == LEAD)
    assert (await final(pool, item))["delivery_status"] == "delivered"
    assert [s["email_address"] for s in sent_with(standin, item)] == [EMAILS[LEAD]]
