"""The MASH queue: each referral to MASH is watched until the MASH team acknowledges it.

One `MashReferralWatch` per referral (id `mash-<case id>-<seq>`), started by the case store when the referral
is saved and by the outbox sweep if that start was lost. The referral is emailed to the MASH mailbox at once
(activities/effects.py); here a durable timer holds the acknowledgement's due time (one hour, a policy
default) and, when it passes, the duty manager is told. The MASH team acknowledges in the web app's MASH
queue: the `acknowledge` update, its sender proven like every command (worker/authz.py).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

import workflows.interfaces as activities
from workflows.bounds import decoded, refusal
from workflows.interfaces import UNDECODABLE
from workflows.models import MashAcknowledgement, MashReferralRef

# Policy default: MASH acknowledges a referral within one hour; missed, the duty manager is told.
ACKNOWLEDGE_WITHIN = timedelta(hours=1)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
CALL_TIMEOUT = timedelta(seconds=30)
# Each call's retries end: an escalation that cannot be written for an hour is left (the referral stays on the
# MASH queue, unacknowledged and overdue, and the watch waits on); an acknowledgement that cannot be recorded
# is refused to the person, who can send it again.
CALLS_GIVE_UP = timedelta(hours=1)


def watch_id(case_id: str, seq: int) -> str:
    return f"mash-{case_id}-{seq}"  # as activities/mash.py's watch() starts it


@workflow.defn(name="MashReferralWatch")
class MashReferralWatch:
    def __init__(self) -> None:
        self.acknowledged: MashAcknowledgement | None = None

    @workflow.run
    async def run(self, referral: MashReferralRef) -> MashAcknowledgement:
        try:
            await workflow.wait_condition(lambda: self.acknowledged is not None, timeout=ACKNOWLEDGE_WITHIN)
        except asyncio.TimeoutError:
            try:
                await workflow.execute_activity(
                    activities.escalate_unacknowledged,
                    referral,
                    start_to_close_timeout=CALL_TIMEOUT,
                    schedule_to_close_timeout=CALLS_GIVE_UP,
                    retry_policy=RETRY,
                )
            except ActivityError as e:
                workflow.logger.error("MASH escalation not written: its retries ended", extra={"error": str(e)})
            await workflow.wait_condition(lambda: self.acknowledged is not None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self.acknowledged is not None
        return self.acknowledged

    def _decode(self, raw: RawValue) -> MashAcknowledgement:
        try:
            return decoded(MashAcknowledgement, raw.payload.data, raw.payload.metadata.get(UNDECODABLE))
        except ValidationError as e:
            raise ApplicationError(refusal(e), type="InvalidCommand", non_retryable=True) from None

    @workflow.update(name="acknowledge")
    async def acknowledge(self, command: RawValue) -> MashAcknowledgement:
        """The MASH team has the referral: who and when are recorded on the queue."""
        ack = self._decode(command).model_copy(update={"at": workflow.now()})
        referral = workflow.info().workflow_id.removeprefix("mash-")
        case_id, _, seq = referral.rpartition("-")
        await workflow.execute_activity(
            activities.record_acknowledgement,
            args=[case_id, int(seq), ack.by, ack.at],
            start_to_close_timeout=CALL_TIMEOUT,
            schedule_to_close_timeout=CALLS_GIVE_UP,
            retry_policy=RETRY,
        )
        self.acknowledged = ack  # (once recorded: a refused acknowledgement can be sent again)
        return ack

    @acknowledge.validator
    def _check(self, command: RawValue) -> None:
        self._decode(command)
        if self.acknowledged is not None:
            raise ApplicationError(
                f"already_acknowledged: by {self.acknowledged.by} at {self.acknowledged.at:%Y-%m-%d %H:%M} UTC",
                "already_acknowledged",
                type="RuleBroken",
                non_retryable=True,
            )
