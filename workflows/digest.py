"""`DailyDigest`: run by the Temporal Schedule `daily-digest-<task queue>` at 08:00 London, Monday to Friday;
a bank holiday is skipped here (a Schedule's calendar knows no bank holidays)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

import workflows.editions as editions
import workflows.interfaces as activities
from workflows.calendar import is_working_day, local_date

DIGEST_SCHEDULE = "daily-digest"


@workflow.defn(name="DailyDigest")
class DailyDigest:
    @workflow.run
    async def run(self) -> int:
        day = local_date(workflow.now())
        if not is_working_day(day, editions.bank_holiday_edition()):
            return 0
        # The moment goes with the day: "this week" and "overdue" are judged by the workflow's clock.
        written = await workflow.execute_activity(
            activities.write_digests,
            args=[day, workflow.now()],
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=10),
        )
        return len(written)
