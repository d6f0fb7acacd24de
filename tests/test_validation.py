"""Every command is validated before anything is written (docs/contract.md "Commands").

A rejected update names the rule and what was seen, and leaves the case's
history and state exactly as they were.
"""

from __future__ import annotations

from datetime import timedelta

from tests.support import LEAD, SCREENER, Case
from workflows.case import EarlyHelpCase
from workflows.models import (
    AddAgencyContribution,
    AddFamilyMember,
    Allocate,
    AssessmentSections,
    Consent,
    DecideClosure,
    IdentifyLeadPractitioner,
    Invitee,
    InviteToTaf,
    Member,
    Need,
    NeedProgress,
    PlanAction,
    RecordAssessment,
    RecordChildSeen,
    RecordConsent,
    RecordContactAttempt,
    RecordDocument,
    RecordHomeVisit,
    RecordLeadDeclined,
    RecordMaspOutcome,
    RecordMemberLeft,
    RecordPersonDetails,
    RecordRelationship,
    RecordReview,
    RecordScreening,
    RecordSocialCareDecision,
    RecordSupervision,
    RecordTaf,
    RecordUnannouncedVisit,
    RecordWarmHandover,
    ReferToMasp,
    RemoveDocument,
    RequestAdditionalService,
    RequestClosure,
    SaveAssessmentDraft,
    UpdatePlan,
    WithdrawConsent,
)
from workflows.pathway import STEPS


def every_command(now):
    """One well-formed instance of every command, keyed by its update."""
    return {
        EarlyHelpCase.allocate: Allocate(by=SCREENER, lead_practitioner=LEAD),
        EarlyHelpCase.record_contact_attempt: RecordContactAttempt(by=LEAD, method="phone", outcome="reached"),
        EarlyHelpCase.record_warm_handover: RecordWarmHandover(by=LEAD, outcome="reached"),
        EarlyHelpCase.record_unannounced_visit: RecordUnannouncedVisit(by=LEAD, outcome="seen", letter_left=False),
        EarlyHelpCase.record_home_visit: RecordHomeVisit(
            by=LEAD, agreement_given=True, genogram_started=True, children_seen=True
        ),
        EarlyHelpCase.record_assessment: RecordAssessment(
            by=LEAD,
            worries=["w"],
            needs_to_happen=["n"],
            scaling=5,
            sources=["a", "b"],
            needs=[Need(code="education", complex=True)],
        ),
        EarlyHelpCase.record_taf: RecordTaf(
            by=LEAD,
            held_at=now,
            attendees=["x"],
            review_date=now.date() + timedelta(weeks=4),
            actions=[PlanAction(need_code="education", action="a", owner="o", due=now.date())],
        ),
        EarlyHelpCase.record_review: RecordReview(
            by=LEAD,
            held_at=now,
            progress=[NeedProgress(need_code="education", status="met")],
            next_review_date=now.date() + timedelta(weeks=4),
        ),
        EarlyHelpCase.request_closure: RequestClosure(by=LEAD, reason="moved_away"),
        EarlyHelpCase.decide_closure: DecideClosure(by="tm", approve=True, reason="r"),
        EarlyHelpCase.refer_to_masp: ReferToMasp(by=LEAD, criteria=["no_improvement"]),
        EarlyHelpCase.record_masp_outcome: RecordMaspOutcome(by="tm", outcome="resources_agreed"),
        EarlyHelpCase.record_social_care_decision: RecordSocialCareDecision(by="sw", accepted=True),
        EarlyHelpCase.identify_lead_practitioner: IdentifyLeadPractitioner(
            by="sw", practitioner=LEAD, chosen_by_family=True
        ),
        EarlyHelpCase.record_lead_declined: RecordLeadDeclined(by="sw", practitioner="p", reason="r"),
        EarlyHelpCase.add_agency_contribution: AddAgencyContribution(by="x", agency="school", summary="s"),
        EarlyHelpCase.request_additional_service: RequestAdditionalService(
            by=LEAD, service="FIT", needs=["education"], reason="r"
        ),
        EarlyHelpCase.record_child_seen: RecordChildSeen(by=LEAD, person_ref="P-1"),
        EarlyHelpCase.record_person_details: RecordPersonDetails(by=LEAD, person_ref="P-1", given_name="Aoife"),
        EarlyHelpCase.add_family_member: AddFamilyMember(by=LEAD, member=Member(person_ref="P-9", role="parent")),
        EarlyHelpCase.record_member_left: RecordMemberLeft(by=LEAD, person_ref="P-1", reason="moved out"),
        EarlyHelpCase.record_relationship: RecordRelationship(by=LEAD, from_ref="P-1", to_ref="P-2", kind="parent"),
        EarlyHelpCase.record_document: RecordDocument(
            by=LEAD, document_id="D-1", kind="consent_form", sha256="0" * 64, filename="consent.pdf"
        ),
        EarlyHelpCase.remove_document: RemoveDocument(by=LEAD, document_id="D-1", reason="kept in error"),
        EarlyHelpCase.save_assessment_draft: SaveAssessmentDraft(
            by=LEAD, sections=AssessmentSections(parents_view="mornings are hard")
        ),
        EarlyHelpCase.update_plan: UpdatePlan(
            by=LEAD,
            actions=[PlanAction(action_id="A1", need_code="education", action="a", owner="o", due=now.date())],
        ),
        EarlyHelpCase.record_supervision: RecordSupervision(by="tm", held_at=now, reflection="on track"),
        EarlyHelpCase.invite_to_taf: InviteToTaf(
            by=LEAD, meeting_at=now + timedelta(days=7), place="school", invitees=[Invitee(name="A", email="a@b.uk")]
        ),
    }


async def test_every_command_out_of_its_stage_is_rejected_and_changes_nothing(env, task_queue):
    """Commands in the wrong stage or route are refused before anything is written [docs/contract.md]."""
    case = await Case.start(env, task_queue)
    commands = every_command(await case.now())
    open_in_every_stage = {
        "record_screening",
        "withdraw_consent",
        "record_consent",
        "transfer_locality",
        "add_case_note",
        # the family record and supervision, in every open stage (tests/test_family_record.py)
        "record_person_details",
        "add_family_member",
        "record_member_left",
        "record_relationship",
        "record_document",
        "remove_document",
        "record_supervision",
        "add_agency_contribution",  # a referral's while its assessment is open: refused as assessment_open
        "request_closure",  # in screening too: consent withdrawn or the family moved (tests/test_practice.py)
    }
    assert {STEPS[type(c)].name for c in commands.values()} | open_in_every_stage == {s.name for s in STEPS.values()}
    for update, command in commands.items():
        if STEPS[type(command)].name in open_in_every_stage:
            continue
        message = await case.rejected(update, command)
        assert ("wrong_stage" in message and "'screening'" in message) or "wrong_route" in message, message


async def test_rule_breaking_commands_are_rejected_with_the_rule_and_what_was_seen(env, task_queue, pool):
    """Each rule's rejection names the rule and what was seen, and writes nothing."""
    case = await Case.start(env, task_queue, needs=[Need(code="housing", complex=True)])
    saved = await case.wait_saved(pool)
    assert "reason" in await case.rejected(
        EarlyHelpCase.record_screening, RecordScreening(by=SCREENER, decision="accept")
    )
    await case.do(EarlyHelpCase.record_screening, RecordScreening(by=SCREENER, decision="accept", reason="escalating"))
    await case.do(EarlyHelpCase.allocate, Allocate(by=SCREENER, lead_practitioner=LEAD))
    future = (await case.now()) + timedelta(days=2)
    assert "no_future_records" in await case.rejected(
        EarlyHelpCase.record_contact_attempt,
        RecordContactAttempt(by=LEAD, at=future, method="phone", outcome="reached"),
    )
    await case.do(
        EarlyHelpCase.record_contact_attempt, RecordContactAttempt(by=LEAD, method="phone", outcome="reached")
    )
    assert "genogram_started" in await case.rejected(
        EarlyHelpCase.record_home_visit,
        RecordHomeVisit(by=LEAD, agreement_given=True, genogram_started=False, children_seen=False),
    )
    await case.do(
        EarlyHelpCase.record_home_visit,
        RecordHomeVisit(by=LEAD, agreement_given=True, genogram_started=True, children_seen=False),
    )
    one_source = RecordAssessment(
        by=LEAD,
        worries=["w"],
        needs_to_happen=["n"],
        scaling=3,
        sources=["school"],
        needs=[Need(code="housing", complex=True), Need(code="finance", complex=True)],
    )
    message = await case.rejected(EarlyHelpCase.record_assessment, one_source)
    assert "assessment_triangulated" in message and "saw 1 (school)" in message
    await case.do(EarlyHelpCase.record_assessment, one_source.model_copy(update={"sources": ["school", "parent"]}))
    now = await case.now()
    taf = RecordTaf(
        by=LEAD,
        held_at=now,
        attendees=["parent"],
        review_date=now.date() + timedelta(weeks=13),
        actions=[PlanAction(need_code="housing", action="a", owner="o", due=now.date())],
    )
    assert "every_need_has_an_action" in await case.rejected(EarlyHelpCase.record_taf, taf)
    taf.actions.append(PlanAction(need_code="finance", action="b", owner="o", due=now.date()))
    assert "reviews_every_twelve_weeks" in await case.rejected(EarlyHelpCase.record_taf, taf)
    await case.do(EarlyHelpCase.record_taf, taf.model_copy(update={"review_date": now.date() + timedelta(weeks=12)}))
    assert "closure_summarises_every_need" in await case.rejected(
        EarlyHelpCase.request_closure, RequestClosure(by=LEAD, reason="needs_met")
    )
    assert "rfas_states_family_needs" in await case.rejected(
        EarlyHelpCase.request_additional_service,
        RequestAdditionalService(by=LEAD, service="YOS", needs=["crime"], reason="r"),
    )
    snap = await case.do(EarlyHelpCase.withdraw_consent, WithdrawConsent(by=LEAD, reason="family asked"))
    assert not snap.consent_given
    assert "consent_recorded_as_given" in await case.rejected(
        EarlyHelpCase.record_consent, RecordConsent(by=LEAD, consent=Consent(given=False))
    )
    snap = await case.do(EarlyHelpCase.request_closure, RequestClosure(by=LEAD, reason="consent_withdrawn"))
    assert snap.stage == "closure_pending"
    rows = await case.wait_saved(pool)
    assert rows[: len(saved)] == saved  # rejections wrote nothing in between
