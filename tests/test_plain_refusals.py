"""Every refusal of the pathway as a page shows it (issue #26 item 7): made by the pathway itself, then placed by
the web app's own functions (web/forms.py rule_error, beside its field or above the form). No rule id, ISO date or
time, microsecond, source code or field path reaches the page; the API and CLI keep the rule's id."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from starter.local.samples import sample_referral
from web import forms
from web.app import command_widgets
from worker.authz import Roles
from workflows import pathway
from workflows.models import (
    ActionUpdate,
    AddAgencyContribution,
    AddFamilyMember,
    Allocate,
    Command,
    Consent,
    DecideClosure,
    IdentifyLeadPractitioner,
    Invitee,
    InviteToTaf,
    Member,
    Need,
    NeedOutcome,
    NeedProgress,
    PlanAction,
    RecordAssessment,
    RecordChildSeen,
    RecordConsent,
    RecordContactAttempt,
    RecordDocument,
    RecordHomeVisit,
    RecordMemberLeft,
    RecordPersonDetails,
    RecordReview,
    RecordScreening,
    RecordTaf,
    RecordUnannouncedVisit,
    RecordWarmHandover,
    ReferToMasp,
    RemoveDocument,
    RequestAdditionalService,
    RequestClosure,
    StepDown,
    TransferLocality,
    UpdatePlan,
)
from workflows.pathway import STEPS
from workflows.rules import RuleBroken
from workflows.state import CURRENT_PRACTICE, CaseState

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 3, 2, 10, 7, 31, 429527, tzinfo=UTC)  # microseconds, as a clock gives them
DAY = date(2026, 3, 2)
NEEDS = ["education", "housing", "family_relationships"]


def opened(step_down: StepDown | None = None, consent: bool = True, needs: int = 3) -> CaseState:
    referral = sample_referral(
        "PR1",
        NOW - timedelta(days=1),
        step_down=step_down,
        consent=consent,
        needs=[Need(code=n, complex=True) for n in NEEDS[:needs]],
    )
    state, _ = pathway.open_case(referral, CURRENT_PRACTICE)
    return state


def after(state: CaseState, *commands: Command, at: datetime = NOW) -> CaseState:
    for c in commands:
        pathway.decide(state, c, at)
    return state


def allocated() -> CaseState:
    screened = RecordScreening(by="das", decision="accept")
    return after(opened(), screened, Allocate(by="das", lead_practitioner="lp"), at=NOW - timedelta(hours=20))


def in_assessment() -> CaseState:
    return after(
        allocated(),
        RecordContactAttempt(by="lp", method="phone", outcome="reached"),
        RecordHomeVisit(by="lp", agreement_given=True, genogram_started=True, children_seen=True),
    )


def actions(*needs: str) -> list[PlanAction]:
    return [PlanAction(need_code=n, action="a", owner="o", due=DAY, action_id=f"A{i}") for i, n in enumerate(needs)]


def in_taf() -> CaseState:
    assessment = RecordAssessment(
        by="lp", worries=["w"], needs_to_happen=["n"], scaling=4, sources=["a", "b"], needs=opened().needs
    )
    return after(in_assessment(), assessment)


def in_plan() -> CaseState:
    taf = RecordTaf(
        by="lp",
        held_at=NOW - timedelta(hours=2),
        attendees=["p"],
        actions=actions(*NEEDS),
        review_date=DAY + timedelta(weeks=4),
    )
    return after(in_taf(), taf)


def failed_attempts() -> CaseState:
    state = allocated()
    for hours in (20, 15.5, 1.5):  # three attempts at different times of day (14:07, 18:37, 08:37)
        at = NOW - timedelta(hours=hours)
        pathway.decide(state, RecordContactAttempt(by="lp", at=at, method="phone", outcome="no_answer"), at)
    return state


def in_visits() -> CaseState:
    return after(failed_attempts(), RecordWarmHandover(by="lp", outcome="failed"))


def step_down(form_ref: str | None = None, preferred: str | None = None) -> CaseState:
    state = opened(StepDown(social_worker="sw", preferred_lead=preferred))
    state.consent = Consent(given=True, recorded_by="sw", form_ref=form_ref)
    return state


def progress() -> list[NeedProgress]:
    return [NeedProgress(need_code=n, status="met") for n in NEEDS]


Scenario = tuple[Callable[[], CaseState], Command]
SCENARIOS: dict[str, Scenario] = {
    "wrong_stage": (opened, RecordHomeVisit(by="lp", agreement_given=True, genogram_started=True, children_seen=True)),
    "wrong_route": (lambda: step_down("CF-1"), Allocate(by="das", lead_practitioner="lp")),
    "threshold_departure_needs_reason": (lambda: opened(needs=1), RecordScreening(by="das", decision="accept")),
    "signposting_names_services": (opened, RecordScreening(by="das", decision="signpost", reason="r")),
    "consent_required": (lambda: opened(consent=False), RecordScreening(by="das", decision="accept")),
    "no_future_records": (
        allocated,
        RecordContactAttempt(by="lp", at=NOW + timedelta(days=2), method="phone", outcome="reached"),
    ),
    "no_records_before_start": (
        allocated,
        RecordContactAttempt(by="lp", at=NOW - timedelta(days=30), method="phone", outcome="reached"),
    ),
    "visits_apart": (
        lambda: after(in_visits(), RecordUnannouncedVisit(by="lp", outcome="no_answer", letter_left=True)),
        RecordUnannouncedVisit(by="lp", at=NOW + timedelta(seconds=3), outcome="no_answer", letter_left=True),
    ),
    "letter_left_each_visit": (in_visits, RecordUnannouncedVisit(by="lp", outcome="no_answer", letter_left=False)),
    "genogram_started": (
        lambda: after(allocated(), RecordContactAttempt(by="lp", method="phone", outcome="reached")),
        RecordHomeVisit(by="lp", agreement_given=True, genogram_started=False, children_seen=True),
    ),
    "assessment_triangulated": (
        in_assessment,
        RecordAssessment(by="lp", worries=["w"], needs_to_happen=["n"], scaling=4, sources=["a"], needs=[Need(code="education")]),
    ),
    "every_need_has_an_action": (
        in_taf,
        RecordTaf(by="lp", held_at=NOW, attendees=["p"], actions=actions("education"), review_date=DAY + timedelta(weeks=4)),
    ),
    "review_date_after_meeting": (
        in_taf,
        RecordTaf(by="lp", held_at=NOW, attendees=["p"], actions=actions(*NEEDS), review_date=DAY),
    ),
    "reviews_every_twelve_weeks": (
        in_taf,
        RecordTaf(by="lp", held_at=NOW, attendees=["p"], actions=actions(*NEEDS), review_date=DAY + timedelta(weeks=13)),
    ),
    "review_after_taf": (
        in_plan,
        RecordReview(by="lp", held_at=NOW - timedelta(hours=3), progress=progress(), next_review_date=DAY + timedelta(weeks=2)),
    ),
    "action_in_the_plan": (
        in_plan,
        RecordReview(by="lp", held_at=NOW, progress=progress(), next_review_date=DAY + timedelta(weeks=2),
                     action_updates=[ActionUpdate(action_id="Z9", closed=True)]),  # fmt: skip
    ),
    "plan_states_family_needs": (in_plan, UpdatePlan(by="lp", actions=actions("crime"))),
    "closure_after_plan": (
        in_taf,
        RequestClosure(by="lp", reason="needs_met", need_outcomes=[NeedOutcome(need_code=n, summary="s", status="met") for n in NEEDS]),
    ),
    "needs_met_shows_every_need_met": (
        in_plan,
        RequestClosure(by="lp", reason="needs_met", need_outcomes=[NeedOutcome(need_code=n, summary="s", status="not_met") for n in NEEDS]),
    ),
    "closure_before_allocation": (opened, RequestClosure(by="lp", reason="needs_met")),
    "closure_not_self_approved": (
        lambda: after(in_plan(), RequestClosure(by="tm", reason="moved_away")),
        DecideClosure(by="tm", approve=True, reason="r"),
    ),
    "masp_re_referrals_history": (in_plan, ReferToMasp(by="lp", criteria=["re_referrals"])),
    "rfas_states_family_needs": (
        in_plan,
        RequestAdditionalService(by="lp", service="YOS", needs=["crime"], reason="r"),
    ),
    "consent_recorded_as_given": (allocated, RecordConsent(by="lp", consent=Consent(given=False))),
    "step_down_signed_consent_form": (step_down, IdentifyLeadPractitioner(by="sw", practitioner="lp", chosen_by_family=True)),
    "preferred_lead_first": (
        lambda: step_down("CF-1", preferred="lp-1"),
        IdentifyLeadPractitioner(by="sw", practitioner="lp-2", chosen_by_family=True),
    ),
    "reallocation_needs_reason": (allocated, Allocate(by="das", lead_practitioner="lp-2")),
    "known_locality": (opened, TransferLocality(by="tm", locality="Atlantis", reason="moved")),
    "another_locality": (opened, TransferLocality(by="tm", locality="Central", reason="moved")),
    "assessment_open": (opened, AddAgencyContribution(by="lp", agency="school", summary="s")),
    "child_of_the_family": (in_assessment, RecordChildSeen(by="lp", person_ref="PR1-P-9")),
    "member_of_the_family": (opened, RecordPersonDetails(by="lp", person_ref="PR1-P-9", given_name="A")),
    "new_member": (opened, AddFamilyMember(by="lp", member=Member(person_ref="P-PR1-1", role="parent"))),
    "in_the_household": (
        lambda: after(opened(), RecordMemberLeft(by="lp", person_ref="P-PR1-1", reason="moved out")),
        RecordMemberLeft(by="lp", person_ref="P-PR1-1", reason="moved out"),
    ),
    "born_in_the_past": (opened, RecordPersonDetails(by="lp", person_ref="P-PR1-2", date_of_birth=DAY + timedelta(days=3))),
    "expected_within_months": (opened, RecordPersonDetails(by="lp", person_ref="P-PR1-2", expected_date=DAY + timedelta(days=400))),
    "new_document": (
        lambda: after(opened(), RecordDocument(by="lp", document_id="D1", kind="consent_form", sha256="0" * 64, filename="a.pdf")),
        RecordDocument(by="lp", document_id="D1", kind="consent_form", sha256="0" * 64, filename="a.pdf"),
    ),
    "kept_document": (opened, RemoveDocument(by="lp", document_id="D9", reason="kept in error")),
    "meeting_ahead": (
        in_taf,
        InviteToTaf(by="lp", meeting_at=NOW - timedelta(hours=2), place="school", invitees=[Invitee(name="A", email="a@b.uk")]),
    ),
}  # fmt: skip
ENGINE_WORDS = [
    (r"^[a-z]+(_[a-z0-9]+)+\b", "a rule id"),
    (r"\d{4}-\d\d-\d\d", "an ISO date"),
    (r"\d\d:\d\d:\d\d|\.\d{6}", "seconds or microseconds"),
    (r"\[\d{3}\]|\[DOMAIN", "a source code"),
    (r"\b[a-z]+(_[a-z0-9]+)+\b", "a field or code with underscores"),
    (r"\b[a-z_]+\.[a-z_]{2,}\b", "a field path"),
    (r"'[a-z]+_[a-z_]+'", "a stage's code"),
]


def raised_in_the_engine() -> set[str]:
    source = "".join((ROOT / "workflows" / f).read_text() for f in ("rules.py", "pathway.py", "record.py"))
    return set(re.findall(r'RuleBroken\(\s*"(\w+)"', source))


def test_every_rule_the_engine_raises_has_a_refusal_here():
    assert raised_in_the_engine() == set(SCENARIOS)


@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_a_refusal_reads_as_a_practitioner_would_say_it(rule: str):
    make, command = SCENARIOS[rule]
    state = make()
    with pytest.raises(RuleBroken) as e:
        pathway.decide(state, command, NOW)
    assert e.value.rule == rule, e.value  # (the API and CLI say the rule's id)
    widgets = command_widgets(STEPS[type(command)].name, state.snapshot(), Roles({}))  # the page's form
    placed = forms.rule_error(e.value.rule, str(e.value), widgets)
    [shown] = placed.values()
    for pattern, what in ENGINE_WORDS:
        assert not re.search(pattern, shown), f"{what} on the page: {shown!r}"
    assert not shown[:1].islower() and len(shown) > 15  # a sentence (or a quoted name) from the start
