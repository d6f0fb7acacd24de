"""Practice the first version missed (docs/domain.md section 9), on the time-skipping server through the contract.

The commands each rule is about are sent as a third-party client would send them: update names as strings
and plain JSON (`do`, `refused` below), with the snapshot read as JSON. Each test is named for its rule and
cites its source ([000]..[004]: the councils' documents, listed in docs/rules.md; [DOMAIN 9] for a policy default of section 9).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from starter.local.samples import sample_referral
from tests.servers import case_worker, own_time_skipping_server
from tests.support import LEAD, MANAGER, SCREENER, Case, end, london, new_case_id
from worker.config import Config, ConfigError
from worker.main import authorization
from workflows import rules
from workflows.bank_holidays import LATEST
from workflows.calendar import LONDON, add_working_days
from workflows.models import Family, Member, Stage, StepDown
from workflows.pathway import STEPS
from workflows.person import PersonDetails
from workflows.policy import Policy

# A time-skipping server and a worker of this module's own. Its tests skip days and weeks at a time, and a skip
# fires the timers of every case open on the server: on the shared one, every case the earlier modules on the
# same pytest process had left open. Under CI's load such a skip ran past the client's 30 s deadline for a call
# (`RPCError: Timeout expired`), and the tests after it on that server failed with it.
env = own_time_skipping_server()


@pytest.fixture(scope="module")
async def task_queue(env, pool):
    async with case_worker(env, pool, "practice") as queue:
        yield queue


OPEN_STAGES = [s for s in Stage if s not in ("signposted", "closed", "transferred_to_social_care")]


async def do(case: Case, name: str, **fields: Any) -> dict[str, Any]:
    """One command by its update name, as JSON."""
    return await case.handle.execute_update(name, _json(fields), result_type=dict)


async def refused(case: Case, name: str, **fields: Any) -> str:
    return await case.rejected(name, _json(fields))


async def snap(case: Case) -> dict[str, Any]:
    return await case.handle.query("snapshot", result_type=dict)


def _json(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in fields.items()}


def pending(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in snapshot["deadlines"] if d["status"] == "pending"}


def statuses(snapshot: dict[str, Any], kind: str) -> list[str]:
    return [d["status"] for d in snapshot["deadlines"] if d["kind"] == kind]


async def accepted(case: Case) -> dict[str, Any]:
    return await do(case, "record_screening", by=SCREENER, decision="accept")


async def allocated(case: Case, lead: str = LEAD) -> dict[str, Any]:
    await accepted(case)
    return await do(case, "allocate", by=SCREENER, lead_practitioner=lead)


async def visited(case: Case, children_seen: bool = True) -> dict[str, Any]:
    await allocated(case)
    await do(case, "record_contact_attempt", by=LEAD, method="phone", outcome="reached")
    return await do(
        case, "record_home_visit", by=LEAD, agreement_given=True, genogram_started=True, children_seen=children_seen
    )


async def assessed(case: Case) -> dict[str, Any]:
    snapshot = await visited(case)
    return await do(
        case,
        "record_assessment",
        by=LEAD,
        worries=["attendance"],
        needs_to_happen=["routine"],
        scaling=4,
        sources=["school", "parent"],
        needs=snapshot["needs"],
    )


async def in_plan(case: Case, wait: timedelta = timedelta(0)) -> dict[str, Any]:
    snapshot = await assessed(case)
    await case.env.sleep(wait)
    held = await case.now()
    return await do(
        case,
        "record_taf",
        by=LEAD,
        held_at=held,
        attendees=["parent", "school"],
        actions=[
            {
                "need_code": n["code"],
                "action": "support",
                "owner": "school",
                "due": str(held.date() + timedelta(weeks=6)),
            }
            for n in snapshot["needs"]
        ],
        review_date=str(held.date() + timedelta(weeks=12)),
    )


async def closure_pending(case: Case) -> dict[str, Any]:
    snapshot = await in_plan(case)
    return await do(
        case,
        "request_closure",
        by=LEAD,
        reason="needs_met",
        need_outcomes=[{"need_code": n["code"], "summary": "met", "status": "met"} for n in snapshot["needs"]],
    )


# --- no dead ends ------------------------------------------------------------------------------


async def _into(case: Case, stage: str) -> None:
    """Drive a new case into `stage` through the contract."""
    walks = {
        "screening": lambda: None,
        "awaiting_allocation": lambda: accepted(case),
        "initial_contact": lambda: allocated(case),
        "home_visit": lambda: _then(
            allocated(case), lambda: do(case, "record_contact_attempt", by=LEAD, method="phone", outcome="reached")
        ),
        "assessment": lambda: visited(case),
        "taf_pending": lambda: assessed(case),
        "plan_active": lambda: in_plan(case),
        "masp": lambda: _then(in_plan(case), lambda: do(case, "refer_to_masp", by=LEAD, criteria=["no_improvement"])),
        "closure_pending": lambda: closure_pending(case),
        "stepped_up": lambda: do(case, "record_screening", by=SCREENER, decision="step_up", reason="harm"),
        "engagement_decision": lambda: _then(
            allocated(case), lambda: do(case, "record_contact_attempt", by=LEAD, method="phone", outcome="declined")
        ),
        "warm_handover": lambda: _contact_ladder(case),
        "unannounced_visits": lambda: _then(
            _contact_ladder(case), lambda: do(case, "record_warm_handover", by=LEAD, outcome="failed")
        ),
    }
    await (walks[stage]() or _none())


async def _none() -> None:
    return None


async def _then(first: Any, second: Any) -> Any:
    await first
    return await second()


async def _contact_ladder(case: Case) -> None:
    await allocated(case)
    day = (await case.now()).date() + timedelta(days=1)
    await case.env.sleep(london(day, 20).astimezone(UTC) - (await case.now()).astimezone(UTC))
    for hour in (9, 14, 19):
        await do(case, "record_contact_attempt", by=LEAD, at=london(day, hour), method="phone", outcome="no_answer")


MOVERS = {  # for each open stage, a command that moves the case on
    "screening": ("record_screening", {"by": SCREENER, "decision": "accept"}),
    "awaiting_allocation": ("allocate", {"by": SCREENER, "lead_practitioner": LEAD}),
    "initial_contact": ("record_contact_attempt", {"by": LEAD, "method": "phone", "outcome": "reached"}),
    "warm_handover": ("record_warm_handover", {"by": LEAD, "outcome": "reached"}),
    "unannounced_visits": ("record_unannounced_visit", {"by": LEAD, "outcome": "seen", "letter_left": False}),
    "engagement_decision": ("decide_closure", {"by": MANAGER, "approve": False, "reason": "try again"}),
    "home_visit": (
        "record_home_visit",
        {"by": LEAD, "agreement_given": True, "genogram_started": True, "children_seen": True},
    ),
    "assessment": ("request_closure", {"by": LEAD, "reason": "moved_away"}),
    "taf_pending": ("request_closure", {"by": LEAD, "reason": "moved_away"}),
    "plan_active": ("refer_to_masp", {"by": LEAD, "criteria": ["escalation"]}),
    "masp": ("record_masp_outcome", {"by": MANAGER, "outcome": "resources_agreed"}),
    "closure_pending": ("decide_closure", {"by": MANAGER, "approve": True, "reason": "met"}),
    "stepped_up": ("record_social_care_decision", {"by": "sw-ahmed", "accepted": False}),
}


@pytest.mark.parametrize("stage", OPEN_STAGES)
async def test_no_dead_ends_every_open_stage_has_a_timer_and_a_command_that_moves_it_on(env, task_queue, stage):
    """From every non-terminal stage some command moves the case on, and a deadline's timer is running, so a
    case never waits unseen [DOMAIN 9]."""
    assert set(MOVERS) == {s.value for s in OPEN_STAGES}
    case = await Case.start(env, task_queue)
    await _into(case, stage)
    before = await snap(case)
    assert before["stage"] == stage
    assert pending(before), f"no timer runs in {stage}"
    name, command = MOVERS[stage]
    assert (await do(case, name, **command))["stage"] != stage


# After consent is withdrawn, the way on from each stage (issue #26 item 9): a closure as consent_withdrawn asked
# for and decided by a manager; where a manager's decision is already awaited, that decision; stepped up, social
# care's decision (safeguarding does not wait for consent).
AFTER_WITHDRAWAL = {
    "closure_pending": ("decide_closure", {"by": MANAGER, "approve": True, "reason": "consent withdrawn"}),
    "engagement_decision": ("decide_closure", {"by": MANAGER, "approve": True, "reason": "consent withdrawn"}),
    "stepped_up": MOVERS["stepped_up"],
}


@pytest.mark.parametrize("stage", OPEN_STAGES)
async def test_after_consent_is_withdrawn_every_open_stage_has_a_way_on(env, task_queue, stage):
    """No dead end after a withdrawal, in any stage: the case closes as consent_withdrawn (or moves on as its stage
    needs), never left waiting for a command that consent would allow."""
    case = await Case.start(env, task_queue)
    await _into(case, stage)
    await do(case, "withdraw_consent", by=LEAD if stage not in ("screening", "awaiting_allocation") else SCREENER,
             reason="the family no longer wants early help")  # fmt: skip
    name, command = AFTER_WITHDRAWAL.get(stage, ("request_closure", {"by": MANAGER, "reason": "consent_withdrawn"}))
    moved = await do(case, name, **command)
    assert moved["stage"] != stage, (stage, moved["stage"])
    if moved["stage"] == "closure_pending":
        closed = await do(case, "decide_closure", by="tm-deputy", approve=True, reason="consent withdrawn")
        assert closed["stage"] == "closed" and closed["outcome"]["reason"] == "consent_withdrawn"
    await end(case.handle)


async def test_consent_withdrawn_before_allocation_can_still_be_closed_by_a_managers_decision(env, task_queue):
    """No dead end: consent withdrawn while awaiting allocation; the case closes as consent_withdrawn [DOMAIN 9]."""
    case = await Case.start(env, task_queue)
    await accepted(case)
    await do(case, "withdraw_consent", by=SCREENER, reason="the family no longer wants early help")
    assert "consent_required" in await refused(case, "allocate", by=SCREENER, lead_practitioner=LEAD)
    assert "closure_before_allocation" in await refused(case, "request_closure", by=SCREENER, reason="needs_met")
    assert (await do(case, "request_closure", by=SCREENER, reason="consent_withdrawn"))["stage"] == "closure_pending"
    assert (await do(case, "decide_closure", by=MANAGER, approve=True, reason="agreed"))["stage"] == "closed"


async def test_consent_withdrawn_in_screening_can_be_closed_by_a_managers_decision_not_signposted(env, task_queue):
    """No dead end in screening either: consent withdrawn before the screening decision; the case closes as
    consent_withdrawn by a manager's decision, instead of being signposted as below threshold [DOMAIN 9]."""
    case = await Case.start(env, task_queue)
    await do(case, "withdraw_consent", by=SCREENER, reason="the family no longer wants early help")
    assert "closure_before_allocation" in await refused(case, "request_closure", by=SCREENER, reason="needs_met")
    assert (await do(case, "request_closure", by=SCREENER, reason="consent_withdrawn"))["stage"] == "closure_pending"
    closed = await do(case, "decide_closure", by=MANAGER, approve=True, reason="agreed")
    assert closed["stage"] == "closed" and closed["outcome"]["reason"] == "consent_withdrawn"


# --- consent ----------------------------------------------------------------------------------


async def test_consent_is_per_person_thirteen_and_over_for_themselves_parents_for_younger_children(env, task_queue):
    """Each member aged 13+ consents for themselves, a parent or carer for younger children; one member can
    withdraw, and the case records whose consent is missing [004]."""
    now = await env.get_current_time()
    referral = sample_referral(new_case_id(), now)
    teenager = Member(person_ref=f"P-{referral.case_id}-3", role="child", year_of_birth=now.year - 15)
    referral = referral.model_copy(
        update={"family": referral.family.model_copy(update={"members": [*referral.family.members, teenager]})}
    )
    case = await Case.start(env, task_queue, referral=referral)
    parent, child = (m.person_ref for m in referral.family.members[:2])
    snapshot = await allocated(case)
    assert snapshot["consent_missing"] == [] and snapshot["consent_given"]
    await do(case, "withdraw_consent", by=LEAD, reason="does not want to take part", person_ref=teenager.person_ref)
    snapshot = await snap(case)
    assert snapshot["consent_missing"] == [teenager.person_ref] and not snapshot["consent_given"]
    await do(case, "record_contact_attempt", by=LEAD, method="phone", outcome="reached")  # contact shares nothing
    message = await refused(
        case, "record_home_visit", by=LEAD, agreement_given=True, genogram_started=True, children_seen=True
    )
    assert "consent_required" in message and teenager.person_ref in message
    assert "member_of_the_family" in await refused(
        case, "record_consent", by=LEAD, person_ref="P-NOBODY", consent={"given": True}
    )
    # A child under 13 is consented for by the parent: their own consent is not asked.
    assert child not in (await snap(case))["consent_missing"] and parent not in (await snap(case))["consent_missing"]
    await do(case, "record_consent", by=LEAD, person_ref=teenager.person_ref, consent={"given": True})
    assert (
        await do(case, "record_home_visit", by=LEAD, agreement_given=True, genogram_started=True, children_seen=True)
    )["stage"] == "assessment"


async def test_consent_withdrawn_blocks_sharing_and_gathering_until_recorded_again(env, task_queue):
    """After withdrawal nothing that shares or gathers information is accepted (reviews, MASP, RfAS...);
    safeguarding, closure and recording consent stay open [004]."""
    case = await Case.start(env, task_queue)
    snapshot = await in_plan(case)
    await do(case, "withdraw_consent", by=LEAD, reason="withdrawn at the door")
    held = await case.now()
    for name, command in [
        (
            "record_review",
            {
                "by": LEAD,
                "held_at": held,
                "next_review_date": str(held.date() + timedelta(weeks=8)),
                "progress": [{"need_code": n["code"], "status": "met"} for n in snapshot["needs"]],
            },
        ),
        ("refer_to_masp", {"by": LEAD, "criteria": ["escalation"]}),
        ("request_additional_service", {"by": LEAD, "service": "FIT", "needs": ["education"], "reason": "r"}),
    ]:
        assert "consent_required" in await refused(case, name, **command), name
    await do(case, "add_case_note", by=LEAD, text="Mother withdrew consent; explained what that means.")
    await do(case, "record_consent", by=LEAD, consent={"given": True, "recorded_by": "parent", "form_ref": "CF-2"})
    assert (await do(case, "refer_to_masp", by=LEAD, criteria=["escalation"]))["stage"] == "masp"


# --- safeguarding and step-up ---------------------------------------------------------------------


async def test_immediate_safeguarding_wins_over_the_step_down_route(env, task_queue):
    """A step-down referral flagging immediate safeguarding is stepped up at once, like any referral
    [DOMAIN 9][004]."""
    case = await Case.start(env, task_queue, immediate_safeguarding=True, step_down=StepDown(social_worker="sw-ahmed"))
    snapshot = await snap(case)
    assert snapshot["stage"] == "stepped_up" and "social_care_decision" in pending(snapshot)


async def test_step_up_pauses_early_help_deadlines_and_social_cares_decision_is_due_in_a_working_day(
    env, task_queue, pool
):
    """While stepped up, early help deadlines are cancelled, never missed; social care's decision is due in
    one working day, and a missed one escalates to the manager [DOMAIN 9]."""
    case = await Case.start(env, task_queue)
    await allocated(case)
    await case.handle.signal("safeguarding_concern", {"by": LEAD, "details": "bruise seen at school"})
    snapshot = await snap(case)
    assert snapshot["stage"] == "stepped_up" and set(pending(snapshot)) == {"social_care_decision"}
    assert statuses(snapshot, "taf") == ["cancelled"] and statuses(snapshot, "first_contact_attempt") == ["cancelled"]
    due = datetime.fromisoformat(pending(snapshot)["social_care_decision"]["due_at"])
    assert due == add_working_days(datetime.fromisoformat(snapshot["deadlines"][-1]["set_at"]), 1, LATEST)
    await env.sleep(timedelta(days=40))  # past every early help deadline it had
    snapshot = await snap(case)
    assert statuses(snapshot, "social_care_decision") == ["missed"]
    assert statuses(snapshot, "taf") == ["cancelled"] and "missed" not in statuses(snapshot, "first_contact_attempt")
    rows = await case.wait_saved(pool)
    escalated = [r for r in rows if r["type"] == "DeadlineMissed"]
    assert [json.loads(r["data"])["kind"] for r in escalated] == ["social_care_decision"]


async def test_a_declined_step_up_returns_to_its_stage_with_deadlines_set_again_from_that_day(env, task_queue):
    """Social care declines: back to the stage the case left, its deadlines set again from the day it returns
    (TAF four weeks if none was held) [DOMAIN 9]."""
    case = await Case.start(env, task_queue)
    await allocated(case)
    await case.handle.signal("safeguarding_concern", {"by": LEAD, "details": "concern"})
    await env.sleep(timedelta(days=10))
    snapshot = await do(case, "record_social_care_decision", by="sw-ahmed", accepted=False)
    returned = await case.now()
    assert snapshot["stage"] == "initial_contact"
    taf = datetime.fromisoformat(pending(snapshot)["taf"]["due_at"]).astimezone(LONDON)
    assert taf.date() == returned.date() + timedelta(days=28) and (taf.hour, taf.minute) == (23, 59)
    assert "first_contact_attempt" in pending(snapshot)
    assert [d["completed_at"] is not None for d in snapshot["deadlines"] if d["kind"] == "social_care_decision"] == [
        True
    ]


async def test_masp_susd_declined_by_social_care_returns_to_the_plan_not_the_panel(env, task_queue):
    """MASP outcome SUSD steps the case up; if social care declines, it returns to plan_active [DOMAIN 9][000]."""
    case = await Case.start(env, task_queue)
    await in_plan(case)
    await do(case, "refer_to_masp", by=LEAD, criteria=["no_improvement"])
    assert (await do(case, "record_masp_outcome", by=MANAGER, outcome="susd"))["stage"] == "stepped_up"
    snapshot = await do(case, "record_social_care_decision", by="sw-ahmed", accepted=False)
    assert snapshot["stage"] == "plan_active" and "review" in pending(snapshot)


# --- allocation, reallocation, transfer, leads ----------------------------------------------------------


async def test_waiting_for_allocation_is_timed_with_a_reminder_and_an_escalation(env, task_queue, pool):
    """Allocated within 5 working days of acceptance, with a reminder and an escalation [DOMAIN 9]."""
    case = await Case.start(env, task_queue)
    snapshot = await accepted(case)
    due = datetime.fromisoformat(pending(snapshot)["allocation"]["due_at"])
    assert due == add_working_days(datetime.fromisoformat(pending(snapshot)["allocation"]["set_at"]), 5, LATEST)
    await env.sleep(timedelta(days=9))
    assert statuses(await snap(case), "allocation") == ["missed"]
    rows = await case.wait_saved(pool)
    assert {json.loads(r["data"])["kind"] for r in rows if r["type"] in ("DeadlineReminded", "DeadlineMissed")} == {
        "allocation"
    }
    notes = await pool.fetch("SELECT kind FROM notifications WHERE case_id = $1", case.case_id)
    assert {"reminder", "escalation"} <= {n["kind"] for n in notes}


async def test_reallocation_on_both_routes_needs_a_reason(env, task_queue):
    """A manager reallocates a case with a reason; a step-down case's lead can change too [DOMAIN 9]."""
    case = await Case.start(env, task_queue)
    await allocated(case)
    assert "reallocation_needs_reason" in await refused(case, "allocate", by=MANAGER, lead_practitioner="lp-smith")
    snapshot = await do(case, "allocate", by=MANAGER, lead_practitioner="lp-smith", reason="lp-jones on leave")
    assert snapshot["lead_practitioner"] == "lp-smith" and snapshot["stage"] == "initial_contact"
    step_down = await Case.start(
        env, task_queue, step_down=StepDown(social_worker="sw-ahmed", cin_meeting_agreed_plan=True)
    )
    assert "wrong_route" in await refused(step_down, "allocate", by=MANAGER, lead_practitioner=LEAD)
    await do(step_down, "identify_lead_practitioner", by="sw-ahmed", practitioner=LEAD, chosen_by_family=True)
    snapshot = await do(step_down, "allocate", by=MANAGER, lead_practitioner="lp-smith", reason="family moved area")
    assert snapshot["lead_practitioner"] == "lp-smith" and snapshot["stage"] == "plan_active"


async def test_a_transfer_to_another_locality_moves_the_case_to_that_team_and_keeps_its_history(env, task_queue, pool):
    """transfer_locality with a reason: the case is that team's now; its history stays [DOMAIN 9]."""
    case = await Case.start(env, task_queue, locality="North")
    await allocated(case)
    assert "known_locality" in await refused(case, "transfer_locality", by=MANAGER, locality="Atlantis", reason="r")
    assert "another_locality" in await refused(case, "transfer_locality", by=MANAGER, locality="North", reason="r")
    snapshot = await do(case, "transfer_locality", by=MANAGER, locality="South", reason="the family moved")
    assert snapshot["locality"] == "South"
    rows = await case.wait_saved(pool)
    assert rows[0]["type"] == "CaseReferred" and rows[-1]["type"] == "LocalityTransferred"
    assert await pool.fetchval("SELECT locality FROM cases WHERE case_id = $1", case.case_id) == "South"


async def test_the_familys_preferred_lead_is_asked_first(env, task_queue):
    """Step-down: the preferred lead is compared with the lead identified; another is named only once the
    preferred one declined [004]."""
    case = await Case.start(env, task_queue, step_down=StepDown(social_worker="sw-ahmed", preferred_lead="hv-smith"))
    assert "preferred_lead_first" in await refused(
        case, "identify_lead_practitioner", by="sw-ahmed", practitioner=LEAD, chosen_by_family=False
    )
    await do(case, "record_lead_declined", by="hv-smith", practitioner="hv-smith", reason="caseload full")
    snapshot = await do(case, "identify_lead_practitioner", by="sw-ahmed", practitioner=LEAD, chosen_by_family=False)
    assert snapshot["lead_practitioner"] == LEAD and statuses(snapshot, "allocation") == ["met"]


# --- children, TAF, reviews, closure -------------------------------------------------------------


async def test_children_not_seen_at_the_first_visit_are_due_within_ten_working_days(env, task_queue):
    """If the children were not seen at the first home visit, seeing them is due within 10 working days; each
    child seen is recorded [001][003]."""
    case = await Case.start(env, task_queue)
    snapshot = await visited(case, children_seen=False)
    assert "see_children" in pending(snapshot)
    child = next(
        m.person_ref for m in sample_referral(case.case_id, datetime.now(UTC)).family.members if m.role == "child"
    )
    assert "child_of_the_family" in await refused(case, "record_child_seen", by=LEAD, person_ref="P-OTHER")
    snapshot = await do(case, "record_child_seen", by=LEAD, person_ref=child)
    assert snapshot["children_seen"] == [child] and statuses(snapshot, "see_children") == ["met"]


async def test_taf_within_four_weeks_means_by_the_end_of_that_day_in_london(env, task_queue):
    """The TAF is due by the end of the London day four weeks after allocation, as reviews are [003][DOMAIN 9]:
    allocated 10:00 BST on 9 October 2026, due 23:59:59 GMT on 6 November, so a TAF at 09:30 that day is on
    time (the first version said 09:00)."""
    allocated_at = london(date(2026, 10, 9), 10)
    due = rules.taf_due_end_of_day(allocated_at, Policy())
    assert due.astimezone(LONDON).replace(microsecond=0) == london(date(2026, 11, 6), 23, 59).replace(second=59)
    assert london(date(2026, 11, 6), 9, 30) <= due
    case = await Case.start(env, task_queue)
    await accepted(case)
    snapshot = await do(case, "allocate", by=SCREENER, lead_practitioner=LEAD)
    allocated = datetime.fromisoformat(pending(snapshot)["first_contact_attempt"]["set_at"])
    taf = datetime.fromisoformat(pending(snapshot)["taf"]["due_at"])
    assert taf == rules.taf_due_end_of_day(allocated, Policy())
    assert taf.astimezone(LONDON).date() == allocated.astimezone(LONDON).date() + timedelta(days=28)


async def test_a_review_cannot_be_dated_before_the_taf(env, task_queue):
    """A review is of the plan the TAF agreed: never dated before it [003][DOMAIN 9]."""
    case = await Case.start(env, task_queue)
    snapshot = await in_plan(case, wait=timedelta(days=2))
    taf_at = await case.now()
    message = await refused(
        case,
        "record_review",
        by=LEAD,
        held_at=taf_at - timedelta(hours=1),
        progress=[{"need_code": n["code"], "status": "met"} for n in snapshot["needs"]],
        next_review_date=str(taf_at.date() + timedelta(weeks=8)),
    )
    assert "review_after_taf" in message


async def test_closing_as_needs_met_needs_every_need_shown_met(env, task_queue):
    """Every need shown met, by the latest review or the closure's summary saying met; otherwise needs_not_met
    or a review first [003][DOMAIN 9]."""
    case = await Case.start(env, task_queue)
    snapshot = await in_plan(case)
    needs = [n["code"] for n in snapshot["needs"]]
    partly = [{"need_code": n, "summary": "better", "status": "partly_met"} for n in needs]
    message = await refused(case, "request_closure", by=LEAD, reason="needs_met", need_outcomes=partly)
    assert "needs_met_shows_every_need_met" in message
    assert (await do(case, "request_closure", by=LEAD, reason="needs_not_met", need_outcomes=partly))[
        "stage"
    ] == "closure_pending"
    await do(case, "decide_closure", by=MANAGER, approve=False, reason="review first")
    held = await case.now()
    await do(
        case,
        "record_review",
        by=LEAD,
        held_at=held,
        next_review_date=str(held.date() + timedelta(weeks=4)),
        progress=[{"need_code": n, "status": "met"} for n in needs],
    )
    summaries = [{"need_code": n, "summary": "sustained"} for n in needs]
    assert (await do(case, "request_closure", by=LEAD, reason="needs_met", need_outcomes=summaries))[
        "stage"
    ] == "closure_pending"


# --- known families ----------------------------------------------------------------------------


async def test_known_families_and_re_referrals_are_found_by_the_engine(env, task_queue, pool):
    """On referral the engine finds earlier cases of the family or its people itself; a referral while the
    family has an open case is flagged, never refused; within 12 months of a closure it is a re-referral,
    which the MASP criterion uses [000][002][DOMAIN 9]."""
    now = await env.get_current_time()
    first = sample_referral(new_case_id(), now)
    family = first.family
    earlier = await Case.start(env, task_queue, referral=first)
    assert (await snap(earlier))["previous_cases"] == [] and not (await snap(earlier))["re_referral"]
    await do(
        earlier,
        "record_screening",
        by=SCREENER,
        decision="signpost",
        services=["Family Support"],
        reason="the school can meet these needs",
    )
    await earlier.wait_saved(pool)
    await env.sleep(timedelta(days=30))
    again = await Case.start(
        env,
        task_queue,
        referral=sample_referral(new_case_id(), await env.get_current_time()).model_copy(update={"family": family}),
    )
    snapshot = await snap(again)
    assert [(p["case_id"], p["matched_on"]) for p in snapshot["previous_cases"]] == [(first.case_id, "family_ref")]
    assert snapshot["re_referral"]
    await again.wait_saved(pool)
    # A third referral of one of its people, under another family reference, while `again` is open.
    ffion = PersonDetails(given_name="Ffion", family_name="Ap Rhys", date_of_birth=date(2016, 4, 1))
    person = family.members[1].model_copy(update={"details": ffion})
    third = sample_referral(new_case_id(), await env.get_current_time())
    third = third.model_copy(update={"family": third.family.model_copy(update={"members": [person]})})
    third_case = await Case.start(env, task_queue, referral=third)
    flagged = await snap(third_case)
    open_ones = [p for p in flagged["previous_cases"] if p["ended_at"] is None]
    assert [(p["case_id"], p["matched_on"]) for p in open_ones] == [(again.case_id, "person_ref")]
    await third_case.wait_saved(pool)
    # A fourth keyed with new references throughout: its child is known by her names and date of birth (the
    # person index, however the names are typed); a name that only sounds the same is not an identity.
    fourth = sample_referral(new_case_id(), await env.get_current_time())
    same = PersonDetails(given_name="FFION", family_name="ap rhys", date_of_birth=date(2016, 4, 1))
    stranger = Member(person_ref=f"P-{fourth.case_id}-9", role="child", details=same)
    fourth = fourth.model_copy(update={"family": Family(family_ref=f"F-{fourth.case_id}", members=[stranger])})
    known = await snap(await Case.start(env, task_queue, referral=fourth))
    assert (third_case.case_id, "person_details") in [(p["case_id"], p["matched_on"]) for p in known["previous_cases"]]
    alike = sample_referral(new_case_id(), await env.get_current_time())
    sounds = PersonDetails(given_name="Ffion", family_name="Ap Rees", date_of_birth=date(2016, 4, 1))
    other = Member(person_ref=f"P-{alike.case_id}-9", role="child", details=sounds)
    alike = alike.model_copy(update={"family": Family(family_ref=f"F-{alike.case_id}", members=[other])})
    assert (await snap(await Case.start(env, task_queue, referral=alike)))["previous_cases"] == []
    # MASP re-referrals: the engine's record, not a number typed by the referrer.
    await in_plan(again)
    assert (await do(again, "refer_to_masp", by=LEAD, criteria=["re_referrals"]))["stage"] == "masp"
    lone = await Case.start(env, task_queue, previous_referrals=5)
    await in_plan(lone)
    assert "masp_re_referrals_history" in await refused(lone, "refer_to_masp", by=LEAD, criteria=["re_referrals"])


async def test_case_notes_are_recorded_in_the_timeline_marked_significant_or_not(env, task_queue, pool):
    """Practitioners add case notes, marked significant or not, for the chronology [DOMAIN 9]."""
    case = await Case.start(env, task_queue)
    await allocated(case)
    await do(case, "add_case_note", by=LEAD, text="Spoke to school: attendance improving.", significant=True)
    assert "no_future_records" in await refused(
        case, "add_case_note", by=LEAD, text="later", at=(await case.now()) + timedelta(days=3)
    )
    notes = [e for e in await case.timeline() if e.type == "CaseNoteAdded"]
    assert [(n.data["text"], n.data["significant"]) for n in notes] == [
        ("Spoke to school: attendance improving.", True)
    ]


async def test_non_engagement_is_fed_back_to_social_care_at_the_engagement_decision_and_on_withdrawal(
    env, task_queue, pool
):
    """Step-down: non-engagement goes back to the social worker at the engagement decision and when consent is
    withdrawn [004]."""
    case = await Case.start(env, task_queue, step_down=StepDown(social_worker="sw-ahmed"))
    await do(case, "identify_lead_practitioner", by="sw-ahmed", practitioner=LEAD, chosen_by_family=True)
    await do(case, "request_closure", by=LEAD, reason="unable_to_engage")
    await do(case, "decide_closure", by=MANAGER, approve=False, reason="one more try")
    await do(case, "withdraw_consent", by=LEAD, reason="family withdrew")
    await do(case, "request_closure", by=LEAD, reason="consent_withdrawn")
    await do(case, "decide_closure", by=MANAGER, approve=True, reason="agreed")
    await case.wait_saved(pool)
    feedback = await pool.fetch(
        "SELECT recipient FROM notifications WHERE case_id = $1 AND kind = "
        "'social_care_feedback' AND subject LIKE '%did not engage%' ORDER BY seq",
        case.case_id,
    )
    assert [f["recipient"] for f in feedback] == ["sw-ahmed", "sw-ahmed"]


def test_managers_decide_closures_so_a_worker_without_a_roles_file_runs_only_as_an_open_demo():
    """Without people and roles anyone could approve a closure: the worker refuses to start unless told it is
    an open demo [DOMAIN 9][003]."""
    with pytest.raises(ConfigError, match="EARLYHELP_ROLES_FILE: who may decide closures"):
        authorization(Config())
    assert authorization(Config(open_demo=True)) is None


def test_every_command_of_the_contracts_additions_is_an_update():
    """docs/contract.md "Trust at the boundary": transfer_locality, record_child_seen and add_case_note are updates;
    allocate and the consent commands take their new fields."""
    names = {step.name for step in STEPS.values()}
    assert {"transfer_locality", "record_child_seen", "add_case_note", "allocate"} <= names
    models = {step.name: model for model, step in STEPS.items()}
    assert "reason" in models["allocate"].model_fields
    assert (
        "person_ref" in models["withdraw_consent"].model_fields
        and "person_ref" in models["record_consent"].model_fields
    )
    assert {"text", "significant", "at"} <= set(models["add_case_note"].model_fields)
    assert Policy().allocation_working_days == 5 and Policy().social_care_decision_working_days == 1
