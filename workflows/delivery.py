"""Delivery of what the engine writes (README "What is sent to whom", docs/delivery.md): a `Delivery` workflow
for an outbox item the worker could not settle when it sent it at once (activities/delivery.py `dispatch`),
and an `OutboxSweep` that a Temporal Schedule runs each minute.

Why a workflow for those, not one inside the case: a delivery that Notify has not taken, or has not said is
final, lives for as long as Notify takes (minutes, or days for a letter), with durable retries and timers,
without touching the case's own history or its command sequence. The id `delivery-<item id>` makes a
second start of the same item a no-op, so the worker and the sweep may both try: it is delivered once.
Follow-ups are started by activities (activities/follow_ups.py), never as child workflows: a delivery
owes nothing to what started it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

import workflows.interfaces as activities
from workflows.interfaces import FAILED, FINAL, UNDELIVERABLE

SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[UNDELIVERABLE],
)
# Every call ends: a send Notify has refused for six hours is escalated as undeliverable (patch below); a
# status read or an escalation failing for an hour fails the delivery, which `earlyhelp doctor` lists.
SEND_GIVES_UP, CALLS_GIVE_UP = timedelta(hours=6), timedelta(hours=1)
CALL_TIMEOUT = timedelta(seconds=60)
SEND_TIMEOUT = timedelta(minutes=3)  # a send, then its status read for FOLLOW_SECONDS (activities/delivery.py)
FIRST_LOOK, LONGEST_WAIT = timedelta(seconds=5), timedelta(hours=1)
STATUS_LOOKS = 60  # about three days of looking, the wait doubling to an hour
SWEEP_AFTER_SECONDS = 30.0
SWEEP_GIVES_UP = timedelta(minutes=2)  # a sweep that cannot finish ends: the schedule runs the next each minute
# Retired patches (workflows/patches.py): the old branches are gone; histories with their markers replay.
ESCALATION_STARTED_BY_ACTIVITY = "escalation-started-by-activity"
SEND_AND_FOLLOW = "send-and-follow-in-one-activity"
# Patch: a send whose retries ended (SEND_GIVES_UP) is escalated like an undeliverable one; before, a send's
# retries had no end. Retire once no delivery begun before it runs (a delivery lives at most three days).
SEND_RETRIES_END = "send-retries-end"


@workflow.defn(name="Delivery")
class Delivery:
    @workflow.run
    async def run(self, item_id: int) -> str:
        try:
            # Sent, and its status followed for the first half-minute, by one activity: most emails are final
            # by then, so a delivery costs the server one activity, not a timer and two more tasks.
            workflow.deprecate_patch(SEND_AND_FOLLOW)
            notify_id, status = await workflow.execute_activity(
                activities.send,
                item_id,
                start_to_close_timeout=SEND_TIMEOUT,
                schedule_to_close_timeout=SEND_GIVES_UP,
                heartbeat_timeout=CALL_TIMEOUT,
                retry_policy=SEND_RETRY,
            )
            wait = FIRST_LOOK * 8
        except ActivityError as e:
            undeliverable = isinstance(e.cause, ApplicationError) and e.cause.type == UNDELIVERABLE
            if not undeliverable and not workflow.patched(SEND_RETRIES_END):
                raise
            await self._escalate(item_id)
            return "failed"
        for _ in range(STATUS_LOOKS):
            if status in FINAL:
                break
            await workflow.sleep(wait)
            status = await workflow.execute_activity(
                activities.delivery_status,
                args=[item_id, notify_id],
                start_to_close_timeout=CALL_TIMEOUT,
                schedule_to_close_timeout=CALLS_GIVE_UP,
                retry_policy=SEND_RETRY,
            )
            wait = min(wait * 2, LONGEST_WAIT)
        if status in FAILED:
            await self._escalate(item_id)
        return status

    async def _escalate(self, item_id: int) -> None:
        """A permanent failure goes to the locality's manager, by a delivery of its own (started by the
        activity: a workflow start from an activity, not a child, so this run owes nothing to it)."""
        await workflow.execute_activity(
            activities.escalate_failure,
            item_id,
            start_to_close_timeout=CALL_TIMEOUT,
            schedule_to_close_timeout=CALLS_GIVE_UP,
            retry_policy=SEND_RETRY,
        )
        workflow.deprecate_patch(ESCALATION_STARTED_BY_ACTIVITY)


@workflow.defn(name="OutboxSweep")
class OutboxSweep:
    """Starts the delivery of every item not sent, or sent and not yet final, that no worker is settling, and
    the watch of every MASH referral not yet acknowledged (the worker died between its commit and the send
    or the start). Nothing is dropped: an outage only delays. The activities start what they find (a start
    under a used id does nothing)."""

    @workflow.run
    async def run(self) -> int:
        deliveries = await workflow.execute_activity(
            activities.undelivered,
            SWEEP_AFTER_SECONDS,
            start_to_close_timeout=CALL_TIMEOUT,
            schedule_to_close_timeout=SWEEP_GIVES_UP,
            retry_policy=SEND_RETRY,
        )
        watches = await workflow.execute_activity(
            activities.unwatched,
            SWEEP_AFTER_SECONDS,
            start_to_close_timeout=CALL_TIMEOUT,
            schedule_to_close_timeout=SWEEP_GIVES_UP,
            retry_policy=SEND_RETRY,
        )
        return deliveries + watches
