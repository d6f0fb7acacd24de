"""Delivery of what the engine writes (README "What is sent to whom"): one `Delivery` workflow per outbox
item, and an `OutboxSweep` that a Temporal Schedule runs each minute.

Why a workflow per item, not one inside the case: an item is written by the case store's transaction
(activities/store.py), which starts its delivery at once; a delivery then lives for as long as Notify
takes to say the message is final (minutes, or days for a letter), with durable retries and timers,
without touching the case's own history or its command sequence. The id `delivery-<item id>` makes a
second start of the same item a no-op, so the store and the sweep may both try: it is delivered once.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.delivery import FAILED, FINAL, UNDELIVERABLE, DeliveryActivities

SEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5),
                         non_retryable_error_types=[UNDELIVERABLE])
CALL_TIMEOUT = timedelta(seconds=60)
FIRST_LOOK, LONGEST_WAIT = timedelta(seconds=5), timedelta(hours=1)
STATUS_LOOKS = 60  # about three days of looking, the wait doubling to an hour
SWEEP_AFTER_SECONDS = 30.0  # an item this old with no delivery started is started by the sweep


def delivery_id(item_id: int) -> str:
    return f"delivery-{item_id}"


@workflow.defn(name="Delivery")
class Delivery:
    @workflow.run
    async def run(self, item_id: int) -> str:
        try:
            notify_id = await workflow.execute_activity_method(
                DeliveryActivities.deliver, item_id, start_to_close_timeout=CALL_TIMEOUT, retry_policy=SEND_RETRY)
        except ActivityError as e:
            if not (isinstance(e.cause, ApplicationError) and e.cause.type == UNDELIVERABLE):
                raise
            await self._escalate(item_id)
            return "failed"
        status, wait = "sending", FIRST_LOOK
        for _ in range(STATUS_LOOKS):
            await workflow.sleep(wait)
            status = await workflow.execute_activity_method(
                DeliveryActivities.delivery_status, args=[item_id, notify_id], start_to_close_timeout=CALL_TIMEOUT,
                retry_policy=SEND_RETRY)
            if status in FINAL:
                break
            wait = min(wait * 2, LONGEST_WAIT)
        if status in FAILED:
            await self._escalate(item_id)
        return status

    async def _escalate(self, item_id: int) -> None:
        """A permanent failure goes to the locality's manager, by a delivery of its own."""
        escalation = await workflow.execute_activity_method(
            DeliveryActivities.escalate_failure, item_id, start_to_close_timeout=CALL_TIMEOUT, retry_policy=SEND_RETRY)
        if escalation is not None:
            await start_delivery(escalation)


async def start_delivery(item_id: int) -> None:
    try:
        await workflow.start_child_workflow(Delivery.run, item_id, id=delivery_id(item_id),
                                            parent_close_policy=workflow.ParentClosePolicy.ABANDON)
    except WorkflowAlreadyStartedError:
        pass  # already on its way


@workflow.defn(name="OutboxSweep")
class OutboxSweep:
    """Starts the delivery of every item whose delivery never started (the store's start failed, or the
    worker died between its commit and the start). Nothing is dropped: an outage only delays."""

    @workflow.run
    async def run(self) -> int:
        items = await workflow.execute_activity_method(
            DeliveryActivities.undelivered, SWEEP_AFTER_SECONDS, start_to_close_timeout=CALL_TIMEOUT,
            retry_policy=SEND_RETRY)
        for item_id in items:
            await start_delivery(item_id)
        return len(items)
