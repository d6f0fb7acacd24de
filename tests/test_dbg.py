from datetime import timedelta
import asyncio
from tests.support import LEAD, Case
from workflows.case import EarlyHelpCase
from workflows.models import NeedProgress, RecordReview

async def test_can(env, task_queue, pool):
    case = await Case.start(env, task_queue)
    snap = await case.in_plan()
    now = await case.now()
    await case.do(EarlyHelpCase.record_review, RecordReview(
        by=LEAD, held_at=now, progress=[NeedProgress(need_code=n.code, status="not_met") for n in snap.needs],
        next_review_date=now.date() + timedelta(weeks=6)))
    for i in range(5):
        t = asyncio.get_running_loop().time()
        print("snap", (await case.snapshot()).stage, asyncio.get_running_loop().time()-t)
    h = await case.handle.describe()
    print(h.status, h.run_id)
