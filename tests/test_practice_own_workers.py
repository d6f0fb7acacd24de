"""Practice rules that need a worker of their own (docs/domain.md section 9): roles checked by the worker's
interceptor, and the report counted in a database of its own. On a time-skipping server of their own, so
that their workers' cases never hold up the shared server's time skipping."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities import report
from activities.store import CaseActivities
from tests.servers import own_time_skipping_server
from tests.support import LEAD, MANAGER, SCREENER, Case, end, eventually, new_case_id
from tests.test_practice import accepted, do
from worker.authz import Authorization, Roles
from worker.main import new_worker
from workflows.calendar import LONDON
from workflows.models import StepDown

env = own_time_skipping_server()


async def test_leads_are_practitioners_of_the_cases_locality(env, pool):
    """A lead must be a known practitioner (a social worker too on step-down) of the case's locality
    [DOMAIN 9]."""
    roles = Roles(
        {
            MANAGER: frozenset({"managers"}),
            SCREENER: frozenset({"screeners"}),
            LEAD: frozenset({"practitioners"}),
            "lp-south": frozenset({"practitioners"}),
        },
        {MANAGER: frozenset({"North"}), LEAD: frozenset({"North"}), "lp-south": frozenset({"South"})},
    )
    queue = f"leads-{new_case_id()}"
    async with new_worker(env.client, CaseActivities(pool), queue, interceptors=[Authorization(roles)]):
        case = await Case.start(env, queue, locality="North")
        await accepted(case)
        for lead, why in (
            ("lp-south", "works in ['South'], not in North"),
            ("nobody", "is not one of the service's practitioners"),
        ):
            with pytest.raises(WorkflowUpdateFailedError) as refusal:
                await do(case, "allocate", by=SCREENER, lead_practitioner=lead)
            assert refusal.value.cause.type == "NotAuthorized" and why in refusal.value.cause.message
        assert (await do(case, "allocate", by=SCREENER, lead_practitioner=LEAD))["lead_practitioner"] == LEAD
        await end(case.handle)


# --- what is reported ---------------------------------------------------------------------------


async def test_the_report_counts_accepted_apart_from_step_downs_stepped_up_apart_from_mash_referrals(env, fresh_pool):
    """Accepted counts referrals accepted for an EHA (step-downs on their own line); stepped up counts cases
    social care accepted (MASH referrals made apart); children and young people beside families;
    re-referrals (%); advice point contacts from the contact log [002][DOMAIN 9]."""
    queue = f"report-{new_case_id()}"
    async with new_worker(env.client, CaseActivities(fresh_pool), queue):
        start = await env.get_current_time()
        accepted_case = await Case.start(env, queue)
        await accepted(accepted_case)
        declined = await Case.start(env, queue)
        await do(declined, "record_screening", by=SCREENER, decision="step_up", reason="harm")
        await do(declined, "record_social_care_decision", by="sw-ahmed", accepted=False)
        taken = await Case.start(env, queue, immediate_safeguarding=True)
        await do(taken, "record_social_care_decision", by="sw-ahmed", accepted=True)
        step_down = await Case.start(env, queue, step_down=StepDown(social_worker="sw-ahmed"))
        for case in (accepted_case, declined, taken, step_down):
            await case.wait_saved(fresh_pool)
        async with fresh_pool.acquire() as conn:
            await report.record_contact(conn, "Central", "phone", "advice_given", SCREENER, start)
            await report.record_contact(conn, "Central", "drop_in", "signposted", SCREENER, start)
            result = await eventually(lambda: _report_when(conn, start, referrals=4))
        for case in (accepted_case, declined, step_down):  # a case left with no worker would stop time skipping
            await end(case.handle)
    assert (result.accepted, result.step_downs) == (1, 1)
    assert (result.stepped_up, result.mash_referrals) == (1, 2)
    assert result.children_referred == 4 and result.open_children == 3  # one child per sample family
    assert result.advice_point_contacts == 2 and result.re_referrals == 0 and result.re_referrals_pct == 0.0


async def _report_when(conn: Any, start: datetime, referrals: int) -> report.Report | None:
    day = start.astimezone(LONDON).date()
    result = await report.performance(conn, day, day + timedelta(days=1))
    return result if result.referrals == referrals else None
