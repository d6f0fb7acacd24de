"""`python -m benchmarks.case_year`: what one case asks of Temporal's server in a year, for pricing and sizing.

One case through a year of Early Help on the time-skipping test server (so a year takes seconds) with a real
PostgreSQL and the production worker: referral, screening, allocation, contact, home visit, assessment, the
TAF, then four twelve-week review cycles, each with a case note a week and a supervision a month, then
closure approved. Every run's history is counted (benchmarks/server_counts.py): workflow starts (a
continue-as-new is one), updates, workflow tasks, activities, local-activity markers, timers started and
fired, search-attribute upserts, patch markers, events and bytes. docs/sizing.md turns them into what a
council's caseload asks of a Temporal cluster or of Temporal Cloud. Writes benchmarks/results/case-year.json.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

from activities.db import connect
from activities.store import CaseActivities
from benchmarks.__main__ import _machine, write_results
from benchmarks.server_counts import KINDS, MARKERS, count
from tests.servers import embedded_database, time_skipping
from tests.support import LEAD, MANAGER, Case
from worker import logs
from worker.main import new_worker
from workflows.case import EarlyHelpCase
from workflows.models import AddCaseNote, DecideClosure, RecordSupervision

REVIEW_CYCLES = 4


async def run(review_cycles: int = REVIEW_CYCLES) -> dict[str, Any]:
    logs.configure("warning")
    pool = await connect(embedded_database())
    env = await time_skipping()
    try:
        async with new_worker(env.client, CaseActivities(pool), "case-year"):
            case = await Case.start(env, "case-year")
            sent = Counter[str]()
            do = case.do

            async def counted(update: Any, command: Any) -> Any:
                sent["commands"] += 1
                return await do(update, command)

            case.do = counted  # type: ignore[method-assign]
            await case.in_plan()
            for _ in range(review_cycles):
                for week in range(11):
                    await env.sleep(timedelta(weeks=1))
                    await case.do(EarlyHelpCase.add_case_note, AddCaseNote(by=LEAD, text=f"Week {week}: visited."))
                    if week % 4 == 3:
                        held = await case.now()
                        await case.do(
                            EarlyHelpCase.record_supervision,
                            RecordSupervision(by=MANAGER, held_at=held, reflection="Progress is steady."),
                        )
                await case.reviewed("partly_met")
            await case.closure_requested()
            await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="needs met"))
            await case.handle.result()
            histories = await case.histories()
    finally:
        await env.shutdown()
        await pool.close()
    total: Counter[str] = Counter()
    for history in histories:
        total.update(count(history.events))
    return {
        "machine": _machine(),
        "review_cycles": review_cycles,
        "commands": sent["commands"],
        "runs": len(histories),  # the first start and each continue-as-new
        **{k: total[k] for k in (*KINDS, *MARKERS, "history_events", "history_bytes")},
    }


def main() -> None:
    write_results("case-year", asyncio.run(run()))


if __name__ == "__main__":
    main()
