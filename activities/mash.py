"""The MASH queue's records: escalating a referral not acknowledged in time, recording who acknowledged it,
and the referrals whose watch (workflows/mash.py) never started."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import structlog
from temporalio import activity

from activities.delivery import delivery
from activities.follow_ups import FollowUp, start_follow_ups
from workflows.calendar import spoken_time
from workflows.models import MashReferralRef

log = structlog.get_logger("earlyhelp.mash")
DUTY_MANAGER = "duty_manager"  # the mailbox the roles file's [emails] table gives an address


def watch(referral: MashReferralRef) -> FollowUp:
    """The referral's watch (workflows/mash.py) until the MASH team acknowledges it."""
    return ("MashReferralWatch", referral, f"mash-{referral.case_id}-{referral.seq}")


class MashActivities:
    def __init__(self, pool: asyncpg.Pool, deliver: bool) -> None:
        # deliver: start the escalation's Delivery through Notify (where Notify is configured).
        self.pool, self.deliver = pool, deliver

    @activity.defn
    async def escalate_unacknowledged(self, referral: MashReferralRef) -> int | None:
        """Tell the duty manager; the queue shows the referral as escalated. Returns the message's id."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE mash_referrals m SET escalated_at = coalesce(escalated_at, now()) FROM cases c"
                " WHERE m.case_id = $1 AND m.seq = $2 AND c.case_id = m.case_id"
                " RETURNING m.referred_at, c.locality",
                referral.case_id,
                referral.seq,
            )
            if row is None:
                return None
            made = spoken_time(row["referred_at"])  # London time to the minute, as people read it
            item = await conn.fetchval(
                "INSERT INTO notifications (case_id, seq, kind, recipient, subject, body)"
                " VALUES ($1, $2, 'mash_unacknowledged', $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
                referral.case_id,
                referral.seq,
                DUTY_MANAGER,
                f"MASH referral not acknowledged: case {referral.case_id}",
                f"The referral to MASH of case {referral.case_id} ({row['locality']}), made at {made}, has not been "
                "acknowledged by the MASH team within an hour. Check that MASH has it.",
            )
        log.warning("mash referral not acknowledged in time", case_id=referral.case_id, seq=referral.seq)
        if item is not None and self.deliver:
            await start_follow_ups([delivery(item)])
        return item

    @activity.defn
    async def record_acknowledgement(self, case_id: str, seq: int, by: str, at: datetime) -> None:
        await self.pool.execute(
            "UPDATE mash_referrals SET acknowledged_by = $3, acknowledged_at = $4"
            " WHERE case_id = $1 AND seq = $2 AND acknowledged_at IS NULL",
            case_id,
            seq,
            by,
            at,
        )

    @activity.defn
    async def unwatched(self, older_than_seconds: float) -> int:
        """Start the watch of each referral not yet acknowledged (a start under a used id does nothing: its
        watch is running); returns how many."""
        rows = await self.pool.fetch(
            "SELECT m.case_id, m.seq FROM mash_referrals m LEFT JOIN erased_cases e USING (case_id)"
            " WHERE m.acknowledged_at IS NULL AND e.case_id IS NULL"
            " AND m.referred_at < now() - make_interval(secs => $1) ORDER BY m.referred_at LIMIT 500",
            older_than_seconds,
        )
        await start_follow_ups([watch(MashReferralRef(case_id=r["case_id"], seq=r["seq"])) for r in rows])
        return len(rows)
