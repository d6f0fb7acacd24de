"""The pathway end to end on the time-skipping server with a real PostgreSQL.

Each test is named for the DOMAIN.md rule it proves and cites its source
document ([000]..[004] in ../shared/seeds).
"""

from __future__ import annotations

from datetime import timedelta

from workflows.case import EarlyHelpCase
from workflows.models import (
    DecideClosure,
    NeedProgress,
    RecordReview,
    RecordScreening,
)

from tests.support import LEAD, MANAGER, SCREENER, Case


async def test_below_threshold_is_signposted_and_decision_recorded(env, task_queue, pool):
    """Two or fewer complex needs: single agency response, signposted, decision recorded [000]."""
    case = await Case.start(env, task_queue, needs=[])
    snap = await case.snapshot()
    assert snap.threshold_recommendation == "signpost"
    await case.do(EarlyHelpCase.record_screening,
                  RecordScreening(by=SCREENER, decision="signpost", services=["Family Support"]))
    outcome = await case.handle.result()
    assert outcome.final_stage == "signposted"
    rows = await case.wait_saved(pool)
    assert [r["type"] for r in rows if r["type"] == "ScreeningRecorded"] == ["ScreeningRecorded"]
    feedback = await pool.fetch("SELECT * FROM notifications WHERE case_id = $1 AND kind = 'referrer_feedback'", case.case_id)
    assert len(feedback) == 1 and "Family Support" in feedback[0]["body"]
