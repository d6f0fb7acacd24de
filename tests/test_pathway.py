"""The pathway end to end on the time-skipping server with a real PostgreSQL.

Each test is named for the docs/domain.md rule it proves and cites its source
document ([000]..[004]: the councils' documents, listed in docs/rules.md).
"""

from __future__ import annotations

import json
from datetime import timedelta

from tests.support import LEAD, MANAGER, SCREENER, Case, eventually, london
from workflows.case import EarlyHelpCase
from workflows.models import (
    AddAgencyContribution,
    Consent,
    DecideClosure,
    IdentifyLeadPractitioner,
    RecordConsent,
    RecordContactAttempt,
    RecordLeadDeclined,
    RecordMaspOutcome,
    RecordScreening,
    RecordSocialCareDecision,
    RecordUnannouncedVisit,
    RecordWarmHandover,
    ReferToMasp,
    RequestAdditionalService,
    SafeguardingConcern,
    StepDown,
)


async def test_below_threshold_is_signposted_and_decision_recorded(env, task_queue, pool):
    """Two or fewer complex needs: single agency response, signposted, decision recorded [000]."""
    case = await Case.start(env, task_queue, needs=[])
    snap = await case.snapshot()
    assert snap.threshold_recommendation == "signpost"
    await case.do(
        EarlyHelpCase.record_screening, RecordScreening(by=SCREENER, decision="signpost", services=["Family Support"])
    )
    outcome = await case.handle.result()
    assert outcome.final_stage == "signposted"
    rows = await case.wait_saved(pool)
    assert [r["type"] for r in rows if r["type"] == "ScreeningRecorded"] == ["ScreeningRecorded"]
    feedback = await pool.fetch(
        "SELECT * FROM notifications WHERE case_id = $1 AND kind = 'referrer_feedback'", case.case_id
    )
    assert len(feedback) == 1 and "Family Support" in feedback[0]["body"]


async def test_immediate_safeguarding_at_referral_goes_to_mash_then_transfers(env, task_queue, pool):
    """Immediate safeguarding at referral: referred straight to DAS/MASH, never waiting for consent [000][004]."""
    case = await Case.start(env, task_queue, immediate_safeguarding=True, consent=False)
    assert await case.stage() == "stepped_up"
    await case.do(EarlyHelpCase.record_social_care_decision, RecordSocialCareDecision(by="sw-ahmed", accepted=True))
    outcome = await case.handle.result()
    assert outcome.final_stage == "transferred_to_social_care"
    await case.wait_saved(pool)
    mash = await pool.fetch("SELECT * FROM mash_referrals WHERE case_id = $1", case.case_id)
    assert len(mash) == 1 and "immediate safeguarding" in mash[0]["reason"]


async def test_consent_required_before_acceptance(env, task_queue):
    """ "For all Early help consent must be obtained" [004]: no consent, the acceptance is refused."""
    case = await Case.start(env, task_queue, consent=False)
    message = await case.rejected(EarlyHelpCase.record_screening, RecordScreening(by=SCREENER, decision="accept"))
    assert "consent_required" in message and "consent.given is false" in message
    await case.do(
        EarlyHelpCase.record_consent,
        RecordConsent(by=SCREENER, consent=Consent(given=True, recorded_by="parent", form_ref="CF-9")),
    )
    snap = await case.do(EarlyHelpCase.record_screening, RecordScreening(by=SCREENER, decision="accept"))
    assert snap.stage == "awaiting_allocation" and snap.consent_given


async def test_contact_ladder_three_times_of_day_warm_handover_three_visits_manager_decides(env, task_queue, pool):
    """3 failed attempts at 3 times of day, warm handover, 3 unannounced visits with letters, then a manager [003]."""
    case = await Case.start(env, task_queue)
    await case.allocated()
    allocated = await case.now()
    day = allocated.date() + timedelta(days=1)
    await env.sleep(timedelta(days=2))
    # Two attempts in the morning count as one time of day: the ladder is not yet climbed.
    for hour in (9, 10, 14):
        snap = await case.do(
            EarlyHelpCase.record_contact_attempt,
            RecordContactAttempt(by=LEAD, at=london(day, hour), method="phone", outcome="no_answer"),
        )
    assert snap.stage == "initial_contact"
    snap = await case.do(
        EarlyHelpCase.record_contact_attempt,
        RecordContactAttempt(by=LEAD, at=london(day, 18, 30), method="phone", outcome="no_answer"),
    )
    assert snap.stage == "warm_handover"
    assert _deadline(snap, "first_contact_attempt").status == "met"
    assert _deadline(snap, "warm_handover_answer").status == "pending"
    await case.do(EarlyHelpCase.record_warm_handover, RecordWarmHandover(by=LEAD, outcome="failed"))
    for _ in range(3):
        snap = await case.do(
            EarlyHelpCase.record_unannounced_visit,
            RecordUnannouncedVisit(by=LEAD, outcome="no_answer", letter_left=True),
        )
        if snap.stage == "unannounced_visits":
            await env.sleep(timedelta(days=1, hours=1))
    assert snap.stage == "engagement_decision"
    assert snap.pending_approval is not None and snap.pending_approval.reason == "unable_to_engage"
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="all contact failed"))
    outcome = await case.handle.result()
    assert (outcome.final_stage, outcome.reason) == ("closed", "unable_to_engage")
    await case.wait_saved(pool)
    letters = await pool.fetch("SELECT text FROM documents WHERE case_id = $1 AND kind = 'visit_letter'", case.case_id)
    assert len(letters) == 3
    assert all("offer you early help" in t["text"] for t in letters)


async def test_manager_may_continue_contact_instead_of_closing(env, task_queue):
    """A manager decides: close as unable to engage, or continue [003][004]."""
    case = await Case.start(env, task_queue)
    await case.allocated()
    snap = await case.do(
        EarlyHelpCase.record_contact_attempt, RecordContactAttempt(by=LEAD, method="phone", outcome="declined")
    )
    assert snap.stage == "engagement_decision"
    snap = await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=False, reason="try again"))
    assert snap.stage == "initial_contact" and snap.pending_approval is None


async def test_full_pathway_contact_visit_assessment_taf_three_reviews_closure(env, task_queue, pool):
    """Contact, home visit, Signs of Safety assessment, TAF in 4 weeks, 12-weekly reviews, manager-approved closure [000][001][003]."""
    case = await Case.start(env, task_queue)
    snap = await case.in_plan()
    assert snap.stage == "plan_active"
    assert _deadline(snap, "taf").status == "met"
    for _ in range(3):
        snap = await case.reviewed("met")
    reviews = [d for d in snap.deadlines if d.kind == "review"]
    assert [d.status for d in reviews] == ["met", "met", "met", "pending"]
    snap = await case.closure_requested()
    assert snap.stage == "closure_pending" and snap.pending_approval.requested_by == LEAD
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="all needs met"))
    outcome = await case.handle.result()
    assert (outcome.final_stage, outcome.reason) == ("closed", "needs_met")
    await case.wait_saved(pool)
    form = await pool.fetchval("SELECT text FROM documents WHERE case_id = $1 AND kind = 'closure_form'", case.case_id)
    assert "Approved by: tm-patel" in form and "education: met and sustained" in form
    kinds = [r["kind"] for r in await pool.fetch("SELECT kind FROM notifications WHERE case_id = $1", case.case_id)]
    assert kinds.count("referrer_feedback") == 2  # the screening outcome and the closure


async def test_needs_not_met_are_referred_to_masp(env, task_queue):
    """Needs not met: refer to MASP (no improvement ...); panel outcome resources, SUSD or LARP [000]."""
    case = await Case.start(env, task_queue)
    await case.in_plan()
    await case.reviewed("not_met", next_in=timedelta(weeks=6))
    message = await case.rejected(EarlyHelpCase.refer_to_masp, ReferToMasp(by=LEAD, criteria=["re_referrals"]))
    assert "masp_re_referrals_history" in message
    snap = await case.do(EarlyHelpCase.refer_to_masp, ReferToMasp(by=LEAD, criteria=["no_improvement"]))
    assert snap.stage == "masp"
    snap = await case.do(EarlyHelpCase.record_masp_outcome, RecordMaspOutcome(by=MANAGER, outcome="susd"))
    assert snap.stage == "stepped_up"


async def test_safeguarding_signal_mid_plan_interrupts_even_a_pending_closure(env, task_queue, pool):
    """A concern of significant harm is referred without delay, at any point; never blocked [003][004]."""
    case = await Case.start(env, task_queue)
    await case.in_plan()
    await case.closure_requested()
    await case.handle.signal(
        EarlyHelpCase.safeguarding_concern, SafeguardingConcern(by=LEAD, details="injury seen at school")
    )
    snap = await case.snapshot()
    assert snap.stage == "stepped_up" and snap.pending_approval is None
    assert _deadline(snap, "closure_decision").status == "cancelled"
    # Social care declines: the case goes back to its plan, still open [003].
    snap = await case.do(
        EarlyHelpCase.record_social_care_decision, RecordSocialCareDecision(by="sw-ahmed", accepted=False)
    )
    assert snap.stage == "plan_active"
    await case.wait_saved(pool)
    assert await pool.fetchval("SELECT count(*) FROM mash_referrals WHERE case_id = $1", case.case_id) == 1


async def test_step_down_with_cin_agreed_plan_needs_no_taf(env, task_queue, pool):
    """Step-down: lead identified, EHA left open; a CIN-agreed plan needs no separate TAF [004]."""
    step_down = StepDown(social_worker="sw-ahmed", cin_meeting_agreed_plan=True, preferred_lead=LEAD)
    case = await Case.start(env, task_queue, step_down=step_down)
    assert await case.stage() == "awaiting_allocation"
    message = await case.rejected(
        EarlyHelpCase.record_lead_declined,
        RecordLeadDeclined.model_construct(by="hv-smith", practitioner="hv-smith", reason=""),
    )
    assert "reason" in message
    await case.do(
        EarlyHelpCase.record_lead_declined,
        RecordLeadDeclined(by="hv-smith", practitioner="hv-smith", reason="caseload full until March"),
    )
    snap = await case.do(
        EarlyHelpCase.identify_lead_practitioner,
        IdentifyLeadPractitioner(by="sw-ahmed", practitioner=LEAD, chosen_by_family=True),
    )
    assert snap.stage == "plan_active" and snap.lead_practitioner == LEAD
    assert [d.kind for d in snap.deadlines if d.status == "pending"] == ["review"]
    await case.do(
        EarlyHelpCase.add_agency_contribution,
        AddAgencyContribution(by="school-senco", agency="school", summary="attendance support plan"),
    )
    await case.do(
        EarlyHelpCase.request_additional_service,
        RequestAdditionalService(
            by=LEAD, service="Family Intervention Team", needs=["housing"], reason="arrears need specialist help"
        ),
    )
    await case.wait_saved(pool)
    feedback = await pool.fetch(
        "SELECT body FROM notifications WHERE case_id = $1 AND kind = 'social_care_feedback'", case.case_id
    )
    assert len(feedback) == 1 and "can close to the social worker" in feedback[0]["body"]


async def test_step_down_without_cin_plan_arranges_a_taf(env, task_queue):
    """Step-down after a single assessment: a TAF is arranged [004]; signed consent form first [004]."""
    step_down = StepDown(social_worker="sw-ahmed", cin_meeting_agreed_plan=False)
    case = await Case.start(env, task_queue, step_down=step_down, consent=False)
    message = await case.rejected(
        EarlyHelpCase.identify_lead_practitioner,
        IdentifyLeadPractitioner(by="sw-ahmed", practitioner=LEAD, chosen_by_family=False),
    )
    assert "consent_required" in message
    await case.do(
        EarlyHelpCase.record_consent,
        RecordConsent(by="sw-ahmed", consent=Consent(given=True, recorded_by="sw-ahmed", form_ref="ISC-7")),
    )
    snap = await case.do(
        EarlyHelpCase.identify_lead_practitioner,
        IdentifyLeadPractitioner(by="sw-ahmed", practitioner=LEAD, chosen_by_family=False),
    )
    assert snap.stage == "taf_pending" and _deadline(snap, "taf").status == "pending"


async def test_taf_missed_at_day_28_is_escalated(env, task_queue, pool):
    """The initial TAF within four weeks of allocation [003]; reminder before, escalation when missed."""
    case = await Case.start(env, task_queue)
    await case.allocated()
    await env.sleep(timedelta(days=22))
    snap = await case.snapshot()
    assert _deadline(snap, "taf").status == "pending" and _deadline(snap, "taf").reminded
    await env.sleep(timedelta(days=7))
    snap = await case.snapshot()
    assert _deadline(snap, "taf").status == "missed"
    await case.wait_saved(pool)
    escalations = await pool.fetch(
        "SELECT recipient, subject FROM notifications WHERE case_id = $1 AND kind = 'escalation'", case.case_id
    )
    assert ("manager:Central", f"Case {case.case_id}: initial Team Around the Family meeting missed") in [
        tuple(r) for r in escalations
    ]


async def test_review_overdue_is_escalated(env, task_queue, pool):
    """Reviews every twelve weeks [003]: an overdue review escalates to the manager."""
    case = await Case.start(env, task_queue)
    await case.in_plan()
    await env.sleep(timedelta(weeks=12, days=2))
    snap = await case.snapshot()
    assert _deadline(snap, "review").status == "missed"
    await case.wait_saved(pool)
    subjects = [
        r["subject"]
        for r in await pool.fetch(
            "SELECT subject FROM notifications WHERE case_id = $1 AND kind = 'escalation'", case.case_id
        )
    ]
    assert f"Case {case.case_id}: review missed" in subjects


async def test_closure_is_not_self_approved(env, task_queue):
    """Permission to close comes from a team manager who is not the requester [003]."""
    case = await Case.start(env, task_queue)
    await case.in_plan()
    await case.closure_requested()
    message = await case.rejected(EarlyHelpCase.decide_closure, DecideClosure(by=LEAD, approve=True, reason="done"))
    assert "closure_not_self_approved" in message
    snap = await case.do(
        EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=False, reason="final TAF first")
    )
    assert snap.stage == "plan_active"


def _deadline(snap, kind):
    return [d for d in snap.deadlines if d.kind == kind][-1]


async def test_search_attributes_follow_the_stage_even_after_quick_commands(env, task_queue, pool):
    """Lists and the Web UI find a case by its stage: the last upsert carries the current stage."""
    case = await Case.start(env, task_queue)
    await case.in_plan()  # five commands in quick succession
    await case.wait_saved(pool)

    async def last_stage() -> str | None:
        upserts = [
            e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            for e in (await case.handle.fetch_history()).events
            if e.HasField("upsert_workflow_search_attributes_event_attributes")
        ]
        stages = [json.loads(fields["CaseStage"].data) for fields in upserts if "CaseStage" in fields]
        return stages[-1] if stages and stages[-1] == "plan_active" else None

    assert await eventually(last_stage) == "plan_active"
