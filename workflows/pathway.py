"""The pathway (docs/domain.md sections 1-8): what each command does to a case.

`decide(state, command, now)` checks the command against the stage and the
rules (workflows/rules.py), then emits the domain events that record it.
Each event is applied to `state` as it is emitted, so later steps see the
case as it now is. Callers pass a copy when they only want to validate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from pydantic_core import to_jsonable_python

import workflows.bank_holidays as bank_holidays
from workflows import rules
from workflows.calendar import add_working_days, local_date, time_of_day
from workflows.models import (
    TERMINAL_STAGES,
    AddAgencyContribution,
    AddCaseNote,
    Allocate,
    Command,
    DecideClosure,
    Event,
    IdentifyLeadPractitioner,
    Member,
    PreviousCase,
    RecordAssessment,
    RecordChildSeen,
    RecordConsent,
    RecordContactAttempt,
    RecordHomeVisit,
    RecordLeadDeclined,
    RecordMaspOutcome,
    RecordReview,
    RecordScreening,
    RecordSocialCareDecision,
    RecordTaf,
    RecordUnannouncedVisit,
    RecordWarmHandover,
    Referral,
    ReferToMasp,
    RequestAdditionalService,
    RequestClosure,
    SafeguardingConcern,
    Stage,
    StepDown,
    TransferLocality,
    WithdrawConsent,
)
from workflows.record import RECORD_COMMANDS
from workflows.rules import RuleBroken
from workflows.state import PRACTICE_V1, CaseState, apply, new_state

SYSTEM = "system"
S = Stage
# Stages after allocation where the lead practitioner works with the family.
WORKING = (
    S.initial_contact,
    S.warm_handover,
    S.unannounced_visits,
    S.engagement_decision,
    S.home_visit,
    S.assessment,
    S.taf_pending,
    S.plan_active,
    S.masp,
)


class Decision:
    """Emits events for one command, applying each to the state at once."""

    def __init__(self, state: CaseState, by: str, now: datetime) -> None:
        self.state, self.by, self.now = state, by, now
        self.holidays = bank_holidays.edition(state.bank_holidays)
        self.events: list[Event] = []

    def working_days_on(self, start: datetime, days: int) -> datetime:
        return add_working_days(start, days, self.holidays)

    def emit(self, type: str, at: datetime | None = None, **data: Any) -> None:
        event = Event(seq=self.state.seq + 1, type=type, at=at or self.now, by=self.by, data=to_jsonable_python(data))
        apply(self.state, event)
        self.events.append(event)

    # --- building blocks shared by the commands ---

    def move(self, to: Stage) -> None:
        if self.state.stage != to:
            change: dict[str, Any] = {"from": self.state.stage, "to": to}  # ("from" is a keyword)
            self.emit("StageChanged", **change)

    def set_deadline(self, kind: str, due_at: datetime) -> None:
        due_at = due_at.astimezone(UTC)  # UTC throughout: London wall-clock arithmetic breaks across DST
        reminder = rules.reminder_time(self.now, due_at, self.state.policy)
        self.emit("DeadlineSet", kind=kind, due_at=due_at, reminder_at=reminder)

    def complete(self, kind: str, at: datetime) -> None:
        """The deadline's step happened at `at`: met if on time, whenever it is recorded."""
        deadline = next(
            (
                d
                for d in reversed(self.state.deadlines)
                if d.kind == kind and d.completed_at is None and d.status in ("pending", "missed")
            ),
            None,
        )
        if deadline is None:
            return
        if at <= deadline.due_at:
            self.emit("DeadlineMet", kind=kind, completed_at=at)
        elif deadline.status == "pending":
            self.emit("DeadlineMissed", kind=kind, completed_at=at)
        else:
            self.emit("DeadlineCompletedLate", kind=kind, completed_at=at)

    def request_decision(
        self, reason: str, resume: Stage, stage: Stage, need_outcomes: list[Any] | None = None
    ) -> None:
        self.emit("ClosureRequested", reason=reason, need_outcomes=need_outcomes or [], resume_stage=resume)
        self.set_deadline(
            "closure_decision", self.working_days_on(self.now, self.state.policy.closure_decision_working_days)
        )
        self.move(stage)

    def consent_needed(self, what: str) -> None:
        """Consent for what shares or gathers information: the family's (practice 1), or every parent's,
        carer's and member's of 13 or over (practice 2) [004]."""
        if self.state.v2:
            rules.check_everyones_consent(self.state.consent_missing(local_date(self.now).year), what)
        else:
            rules.check_consent(self.state.consent, safeguarding=False)

    def step_up(self, reason: str) -> None:
        """Refer to DAS/MASH without delay [000][003][004]; the case stays open meanwhile [003].

        Practice 2: the early help deadlines pause (cancelled, never missed) and social care's decision is
        due [DOMAIN 9]; a MASP step-up returns to the plan, not to the panel."""
        state = self.state
        resume = state.stage
        if state.pending_approval is not None:
            resume = state.pending_approval.resume_stage
            self.emit("ApprovalCancelled", reason="safeguarding takes precedence over closure")
            if state.pending("closure_decision"):
                self.emit("DeadlineCancelled", kind="closure_decision")
        if not state.v2:
            self.emit("SteppedUp", reason=reason, resume_stage=resume)
            self.move(S.stepped_up)
            return
        if resume == S.masp:
            resume = S.plan_active
        paused = [d.kind for d in state.deadlines if d.status == "pending"]
        for kind in paused:
            self.emit("DeadlineCancelled", kind=kind, reason="paused while stepped up")
        self.emit("SteppedUp", reason=reason, resume_stage=resume, paused=paused)
        self.set_deadline(
            "social_care_decision", self.working_days_on(self.now, state.policy.social_care_decision_working_days)
        )
        self.move(S.stepped_up)

    def resume_from_step_up(self, paused: list[str]) -> None:
        """Social care declined: back to the stage the case left, its paused deadlines set again from today,
        and the stage's own (screening decision, allocation, review) [DOMAIN 9]."""
        stage = self.state.resume_stage or S.screening
        own = {S.screening: "screening_decision", S.awaiting_allocation: "allocation", S.plan_active: "review"}
        kinds = list(dict.fromkeys([*paused, *([own[stage]] if stage in own else [])]))
        if stage in WORKING and self.state.taf_held_at is None and self.state.allocated_at and "taf" not in kinds:
            kinds.append("taf")
        self.move(stage)
        for kind in kinds:
            self.set_deadline(kind, rules.deadline_on_return(kind, self.now, self.state.policy, self.holidays))

    def taf_due(self) -> datetime:
        s = self.state
        return rules.taf_due_end_of_day(self.now, s.policy) if s.v2 else rules.taf_due(self.now, s.policy)

    def finish(self, stage: Stage, reason: str) -> None:
        self.move(stage)
        self.emit("CaseEnded", final_stage=stage, reason=reason)

    def at_or_now(self, at: datetime | None, not_before: datetime | None, what: str) -> datetime:
        when = at or self.now
        rules.check_recorded_time(when, not_before or self.state.referral.received_at, self.now, what)
        return when


def _person(m: Member) -> dict[str, Any]:
    """A referred member as its event records them (a referral with no details makes the event it always did)."""
    person: dict[str, Any] = {"person_ref": m.person_ref, "role": m.role}
    if m.details is not None:
        person["details"] = m.details.given()
    if not m.lives_in_household:
        person["lives_in_household"] = False
    return person


def _given(**values: Any) -> dict[str, Any]:
    """Event data of the values given: a field a command gained later is left out when not used, so a command
    recorded before it makes the same event."""
    return {k: v for k, v in values.items() if v is not None}


# --- opening a case -------------------------------------------------------------


def check_referral(referral: Referral, now: datetime) -> None:
    """What a model cannot check alone: a referral is not received in the future."""
    try:
        rules.check_recorded_time(referral.received_at, referral.received_at, now, "received_at: the referral")
    except RuleBroken as e:
        raise RuleBroken(e.rule, f"received_at: {e}") from None


def _step_down(step_down: StepDown | None) -> dict[str, Any] | None:
    """A step-down as referred; the CIN plan's summary (third version) only when given, so a referral as sent
    before makes the same event."""
    if step_down is None:
        return None
    return step_down.model_dump(mode="json", exclude=set() if step_down.cin_plan_summary else {"cin_plan_summary"})


def open_case(
    referral: Referral, practice: int = PRACTICE_V1, holidays: bank_holidays.Edition = bank_holidays.FIRST
) -> tuple[CaseState, list[Event]]:
    """The case as referred: its first events are dated when the referral was received."""
    policy = referral.effective_policy
    recommendation = rules.threshold_recommendation(referral.needs, referral.immediate_safeguarding, policy)
    state = new_state(referral, recommendation, practice)
    state.bank_holidays = holidays.number
    d = Decision(state, referral.referrer.agency, referral.received_at)
    keyed: dict[str, Any] = {"keyed_by": referral.keyed_by} if referral.keyed_by else {}
    d.emit(
        "CaseReferred",
        route=referral.route,
        locality=referral.locality,
        family_ref=referral.family.family_ref,
        # People by reference and role, and their details where the referral gives them (sealed at rest).
        people=[_person(m) for m in referral.family.members],
        **_given(relationships=[r.model_dump() for r in referral.family.relationships] or None),
        referrer=referral.referrer,
        needs=referral.needs,
        consent_given=referral.consent.given,
        immediate_safeguarding=referral.immediate_safeguarding,
        previous_referrals=referral.previous_referrals,
        recommendation=recommendation,
        **keyed,
        step_down=_step_down(referral.step_down),
    )
    if state.v2 and referral.immediate_safeguarding:
        # Immediate safeguarding wins over the route: a step-down that flags it steps up at once [DOMAIN 9].
        d.step_up("immediate safeguarding identified at referral [000][004]")
    elif referral.route == "step_down":
        # The EHA is opened and left open for other agencies [004]; a lead is identified next.
        d.move(S.awaiting_allocation)
        if state.v2:
            d.set_deadline("allocation", d.working_days_on(referral.received_at, policy.allocation_working_days))
    elif referral.immediate_safeguarding:
        d.step_up("immediate safeguarding identified at referral [000][004]")
    else:
        d.set_deadline("screening_decision", d.working_days_on(referral.received_at, policy.screening_working_days))
    return state, d.events


# --- the commands -----------------------------------------------------------------


def _record_screening(d: Decision, c: RecordScreening) -> None:
    s = d.state
    rules.check_screening(c.decision, c.reason, c.services, s.recommendation, s.consent)
    d.emit(
        "ScreeningRecorded", decision=c.decision, reason=c.reason, services=c.services, recommendation=s.recommendation
    )
    d.complete("screening_decision", d.now)
    if c.decision == "accept":
        d.move(S.awaiting_allocation)
        if s.v2:  # waiting for allocation is timed [DOMAIN 9]
            d.set_deadline("allocation", d.working_days_on(d.now, s.policy.allocation_working_days))
    elif c.decision == "signpost":
        d.finish(S.signposted, "below threshold: single agency response, signposted to " + ", ".join(c.services))
    else:
        d.step_up(c.reason or "screening decided to step up to social care")


def _allocate(d: Decision, c: Allocate) -> None:
    s = d.state
    first = s.stage == S.awaiting_allocation
    if s.referral.route == "step_down" and (first or not s.v2):
        # A step-down's lead is identified (identify_lead_practitioner); practice 2 reallocates it here.
        raise RuleBroken("wrong_route", f"allocate is for referral cases; this case's route is {s.referral.route!r}")
    if first:
        d.consent_needed("allocation")
    elif s.v2:
        rules.check_reallocation_reason(c.reason)
    d.emit(
        "CaseAllocated",
        lead_practitioner=c.lead_practitioner,
        reallocation=not first,
        **({"reason": c.reason} if s.v2 and c.reason else {}),
    )
    if first:
        d.complete("allocation", d.now)
        # The TAF clock starts at allocation [003]; first contact within 2 working days (policy).
        d.set_deadline("first_contact_attempt", d.working_days_on(d.now, s.policy.first_contact_working_days))
        d.set_deadline("taf", d.taf_due())
        d.move(S.initial_contact)


def _record_contact_attempt(d: Decision, c: RecordContactAttempt) -> None:
    s = d.state
    at = d.at_or_now(c.at, s.allocated_at, "the contact attempt")
    d.emit(
        "ContactAttemptRecorded",
        at=at,
        method=c.method,
        outcome=c.outcome,
        time_of_day=time_of_day(at, s.policy),
        attempt=len(s.contact_attempts) + 1,
        **_given(note=c.note),
    )
    d.complete("first_contact_attempt", at)
    if c.outcome == "reached":
        d.move(S.home_visit)
    elif c.outcome == "declined":
        # A resistant family: the worker discusses with the manager [003].
        d.request_decision("unable_to_engage", S.initial_contact, S.engagement_decision)
    elif rules.contact_ladder_exhausted(s.contact_attempts, s.policy):
        # Contact not achieved: ask the referrer for a warm handover [003].
        d.set_deadline("warm_handover_answer", d.working_days_on(d.now, s.policy.warm_handover_working_days))
        d.move(S.warm_handover)


def _record_warm_handover(d: Decision, c: RecordWarmHandover) -> None:
    at = d.at_or_now(c.at, d.state.allocated_at, "the warm handover")
    d.emit("WarmHandoverRecorded", at=at, outcome=c.outcome)
    d.complete("warm_handover_answer", at)
    # If it fails: three unannounced visits, a letter each time [003].
    d.move(S.home_visit if c.outcome == "reached" else S.unannounced_visits)


def _record_unannounced_visit(d: Decision, c: RecordUnannouncedVisit) -> None:
    s = d.state
    if s.v2:
        d.consent_needed("an unannounced visit")
    at = d.at_or_now(c.at, s.allocated_at, "the unannounced visit")
    rules.check_unannounced_visit(c.model_copy(update={"at": at}), s.visits, s.policy)
    d.emit(
        "UnannouncedVisitRecorded",
        at=at,
        outcome=c.outcome,
        letter_left=c.letter_left,
        visit=len(s.visits) + 1,
        lead_practitioner=s.lead_practitioner,
        **_given(note=c.note),
    )
    if c.outcome == "seen":
        d.move(S.home_visit)
    elif rules.unannounced_visits_exhausted(s.visits, s.policy):
        # All of it failed: a manager decides whether to close or go on [003][004].
        d.request_decision("unable_to_engage", S.initial_contact, S.engagement_decision)


def _record_home_visit(d: Decision, c: RecordHomeVisit) -> None:
    s = d.state
    d.consent_needed("the home visit")
    rules.check_home_visit(c.agreement_given, c.genogram_started)
    at = d.at_or_now(c.at, s.allocated_at, "the home visit")
    d.emit(
        "HomeVisitRecorded",
        at=at,
        agreement_given=c.agreement_given,
        genogram_started=c.genogram_started,
        children_seen=c.children_seen,
    )
    if s.v2 and c.agreement_given:
        if c.children_seen:
            for child in s.children():
                d.emit("ChildSeen", at=at, person_ref=child)
        else:  # the children are seen within 10 working days [001][003]
            d.set_deadline("see_children", d.working_days_on(at, s.policy.see_children_working_days))
    if c.agreement_given:
        d.move(S.assessment)
    else:
        d.request_decision("unable_to_engage", S.home_visit, S.engagement_decision)


def _record_assessment(d: Decision, c: RecordAssessment) -> None:
    s = d.state
    d.consent_needed("the assessment")
    rules.check_triangulated(c.sources)
    at = d.at_or_now(c.at, s.allocated_at, "the assessment")
    d.emit("AssessmentRecorded", at=at, **c.model_dump(mode="json", exclude={"by", "at"}))
    d.move(S.taf_pending)


def _record_taf(d: Decision, c: RecordTaf) -> None:
    s = d.state
    d.consent_needed("the TAF meeting")
    at = d.at_or_now(c.held_at, s.allocated_at, "the TAF meeting")
    rules.check_plan_covers_needs(s.needs, c.actions)
    rules.check_review_date(at, c.review_date, s.policy)
    # (Fields added since are in the event only when given: a command as sent before makes the same event.)
    d.emit(
        "TafHeld",
        **c.model_dump(mode="json", exclude={"by"} | ({"apologies"} if not c.apologies else set()), exclude_none=True),
    )
    d.complete("taf", at)
    d.set_deadline("review", rules.review_due(c.review_date))
    d.move(S.plan_active)


def _record_review(d: Decision, c: RecordReview) -> None:
    s = d.state
    at = d.at_or_now(c.held_at, s.allocated_at, "the review")
    if s.v2:
        d.consent_needed("the review")
        rules.check_review_after_taf(at, s.taf_held_at)
    rules.check_covers_every_need(s.needs, (p.need_code for p in c.progress), "review_covers_every_need", "the review")
    rules.check_review_date(at, c.next_review_date, s.policy)
    known = {a.action_id for a in s.plan if a.action_id}
    if unknown := sorted({u.action_id for u in c.action_updates} - known):
        raise RuleBroken("action_in_the_plan", f"{', '.join(unknown)} is not an action of the plan")
    # (what the review says beyond its progress only when given: a review recorded before has the same event)
    review = c.model_dump(mode="json", exclude={"by"}, exclude_none=True)
    d.emit("ReviewHeld", **{k: v for k, v in review.items() if v != [] or k == "progress"})
    d.complete("review", at)
    d.set_deadline("review", rules.review_due(c.next_review_date))


def _request_closure(d: Decision, c: RequestClosure) -> None:
    s = d.state
    if s.stage in (S.screening, S.awaiting_allocation) and c.reason not in ("consent_withdrawn", "moved_away"):
        # No dead end: before allocation (in screening too) a case closes only because consent went or the
        # family moved; otherwise a case whose consent went in screening could only be signposted.
        raise RuleBroken(
            "closure_before_allocation",
            f"before allocation a case closes as consent_withdrawn or moved_away only; not {c.reason} [DOMAIN 9]",
        )
    if c.reason in ("needs_met", "needs_not_met"):
        if s.stage not in (S.plan_active, S.masp):
            raise RuleBroken(
                "closure_after_plan", f"closing as {c.reason} needs a plan in place; the case is in '{s.stage}'"
            )
        # The EHA is updated to say how each need was met, or why not [003].
        rules.check_covers_every_need(
            s.needs, (o.need_code for o in c.need_outcomes), "closure_summarises_every_need", "the closure summary"
        )
        if s.v2 and c.reason == "needs_met":
            rules.check_needs_shown_met(s.needs, s.latest_review, c.need_outcomes)
    d.request_decision(c.reason, s.stage, S.closure_pending, c.need_outcomes)


def _decide_closure(d: Decision, c: DecideClosure) -> None:
    s = d.state
    pending = s.pending_approval
    assert pending is not None  # the stage guarantees it
    rules.check_closure_decider(c.by, pending.requested_by)
    d.emit(
        "ClosureDecided",
        approve=c.approve,
        reason=c.reason,
        closure_reason=pending.reason,
        need_outcomes=pending.need_outcomes,
        route=s.referral.route,
    )
    d.complete("closure_decision", d.now)
    if c.approve:
        d.finish(S.closed, pending.reason)
    else:
        if pending.resume_stage == S.initial_contact:
            d.emit("ContactLadderRestarted", reason=c.reason)
        d.move(pending.resume_stage)


def _refer_to_masp(d: Decision, c: ReferToMasp) -> None:
    if d.state.v2:
        d.consent_needed("a MASP referral")
        rules.check_re_referral_history(c.criteria, len([p for p in d.state.previous_cases if p.ended_at]))
    else:
        rules.check_masp_criteria(c.criteria, d.state.referral.previous_referrals)
    d.emit("MaspReferred", criteria=c.criteria)
    d.move(S.masp)


def _record_masp_outcome(d: Decision, c: RecordMaspOutcome) -> None:
    d.emit("MaspOutcomeRecorded", outcome=c.outcome, notes=c.notes)
    if c.outcome == "susd":
        d.step_up("MASP outcome: Step Up Step Down [000]")
    else:
        d.move(S.plan_active)


def _record_social_care_decision(d: Decision, c: RecordSocialCareDecision) -> None:
    s = d.state
    d.emit("SocialCareDecisionRecorded", accepted=c.accepted, **_given(reason=c.reason))
    if s.v2:
        d.complete("social_care_decision", d.now)
    if c.accepted:
        d.finish(S.transferred_to_social_care, "accepted by children's social care")
    elif s.v2:
        d.resume_from_step_up(s.paused)
    else:
        d.move(s.resume_stage or S.screening)


def _member(d: Decision, person_ref: str | None) -> dict[str, Any]:
    """A command about one member names a member of the family (practice 2 takes per-person consent)."""
    if person_ref is None:
        return {}
    known = [m.person_ref for m in d.state.referral.family.members]
    if person_ref not in known:
        raise RuleBroken(
            "member_of_the_family",
            f"{person_ref!r} is not a member of this family ({', '.join(known) or 'no members recorded'})",
        )
    return {"person_ref": person_ref}


def _withdraw_consent(d: Decision, c: WithdrawConsent) -> None:
    d.emit("ConsentWithdrawn", reason=c.reason, **_member(d, c.person_ref))


def _record_consent(d: Decision, c: RecordConsent) -> None:
    if not c.consent.given:
        raise RuleBroken(
            "consent_recorded_as_given", "record_consent records consent given; use withdraw_consent otherwise"
        )
    d.emit("ConsentRecorded", consent=c.consent, **_member(d, c.person_ref))


def _identify_lead_practitioner(d: Decision, c: IdentifyLeadPractitioner) -> None:
    s = d.state
    assert s.referral.step_down is not None
    rules.check_step_down_consent(s.consent)
    if s.v2:
        rules.check_preferred_lead(s.referral.step_down.preferred_lead, c.practitioner, s.declined_leads)
    # The case closes to the social worker once the EHA is open and a lead identified [004].
    d.emit(
        "LeadPractitionerIdentified",
        practitioner=c.practitioner,
        chosen_by_family=c.chosen_by_family,
        social_worker=s.referral.step_down.social_worker,
    )
    d.complete("allocation", d.now)
    if s.referral.step_down.cin_meeting_agreed_plan:
        # The CIN meeting agreed the plan: no separate TAF [004]; reviews start now.
        d.set_deadline("review", rules.review_due(local_date(d.now) + timedelta(weeks=s.policy.review_interval_weeks)))
        d.move(S.plan_active)
    else:
        d.set_deadline("taf", d.taf_due())
        d.move(S.taf_pending)


def _record_lead_declined(d: Decision, c: RecordLeadDeclined) -> None:
    d.emit("LeadDeclined", practitioner=c.practitioner, reason=c.reason)


def _add_agency_contribution(d: Decision, c: AddAgencyContribution) -> None:
    if d.state.referral.route == "referral" and d.state.stage != S.assessment:
        raise RuleBroken(
            "assessment_open", f"an agency adds its part while the assessment is open; the case is in '{d.state.stage}'"
        )
    if d.state.v2:
        d.consent_needed("an agency contribution")
    d.emit("AgencyContributionAdded", agency=c.agency, summary=c.summary)


def _request_additional_service(d: Decision, c: RequestAdditionalService) -> None:
    if d.state.v2:
        d.consent_needed("a request for additional service")
    unknown = sorted(set(c.needs) - {n.code for n in d.state.needs})
    if unknown:
        raise RuleBroken(
            "rfas_states_family_needs",
            f"an RfAS states the family's needs; {', '.join(unknown)} is not a need of this case [004]",
        )
    d.emit("AdditionalServiceRequested", service=c.service, needs=c.needs, reason=c.reason)


def _transfer_locality(d: Decision, c: TransferLocality) -> None:
    s = d.state
    if c.locality not in s.policy.localities:
        raise RuleBroken("known_locality", f"{c.locality!r} is not one of {s.policy.localities}")
    if c.locality == s.referral.locality:
        raise RuleBroken("another_locality", f"the case is already in {c.locality}")
    d.emit("LocalityTransferred", **{"from": s.referral.locality, "to": c.locality}, reason=c.reason)


def _record_child_seen(d: Decision, c: RecordChildSeen) -> None:
    s = d.state
    children = s.children()
    if children and c.person_ref not in children:
        raise RuleBroken(
            "child_of_the_family", f"{c.person_ref!r} is not a child of this family ({', '.join(children)}) [001][003]"
        )
    at = d.at_or_now(c.at, s.allocated_at, "the child seen")
    d.emit("ChildSeen", at=at, person_ref=c.person_ref)
    if not set(children) - set(s.children_seen):
        d.complete("see_children", at)


def _add_case_note(d: Decision, c: AddCaseNote) -> None:
    at = d.at_or_now(c.at, None, "the case note")
    d.emit("CaseNoteAdded", at=at, text=c.text, significant=c.significant, **_given(kind=c.kind))


# What of a malformed concern is kept: enough to act on, bounded, printable.
RECEIVED_LIMIT = 10_000
UNKNOWN_SENDER = "unknown"


def _printable(raw: bytes) -> str:
    text = raw[: RECEIVED_LIMIT * 4].decode("utf-8", errors="replace")[:RECEIVED_LIMIT]
    return "".join(c if c in "\n\t" or (c.isprintable() and c != "\x7f") else "\ufffd" for c in text)


def raise_safeguarding(
    state: CaseState,
    concern: SafeguardingConcern | None,
    now: datetime,
    problem: str | None = None,
    received: bytes = b"",
) -> list[Event]:
    """Acted on at once in every non-terminal stage; nothing can refuse it [000][003][004].

    A malformed concern (`concern` None, `problem` saying why) is acted on just the same: recorded as
    received (bounded), flagged for the locality's manager, and the case stepped up.
    """
    if state.stage in TERMINAL_STAGES:
        return []
    if concern is None:
        d = Decision(state, UNKNOWN_SENDER, now)
        d.emit(
            "SafeguardingConcernRaised",
            details=_printable(received),
            stage=state.stage,
            malformed=problem,
            escalated_to="manager",
        )
    else:
        d = Decision(state, concern.by, now)
        about = _given(person_refs=concern.person_refs or None, category=concern.category)
        d.emit(
            "SafeguardingConcernRaised",
            at=concern.at or now,
            details=concern.details,
            stage=state.stage,
            **about,
            **_given(police_informed=concern.police_informed),
        )
    if state.stage != S.stepped_up:
        d.step_up("safeguarding concern: referred to MASH without delay [004]")
    return d.events


def set_practice(state: CaseState, version: int, now: datetime) -> list[Event]:
    """A case opened under earlier practice takes the current one at its next run (workflows/case.py)."""
    d = Decision(state, SYSTEM, now)
    d.emit("PracticeVersionSet", version=version)
    return d.events


def previous_cases_found(state: CaseState, found: list[PreviousCase], now: datetime) -> list[Event]:
    """Known families [000][002]: the engine's own record of earlier cases of the family or its people. A
    case still open is flagged for the screener, never refused; a referral within the policy's months of
    the family's last closure is a re-referral."""
    received = state.referral.received_at
    since = received - timedelta(days=round(30.44 * state.policy.re_referral_months))
    re_referral = any(p.ended_at is not None and since <= p.ended_at <= received for p in found)
    d = Decision(state, SYSTEM, now)
    d.emit(
        "PreviousCasesFound",
        cases=[p.model_dump(mode="json") for p in found],
        re_referral=re_referral,
        open_cases=[p.case_id for p in found if p.ended_at is None],
    )
    return d.events


def tick(state: CaseState, now: datetime) -> list[Event]:
    """Reminders before deadlines, escalations to the manager when missed [DOMAIN 4]."""
    d = Decision(state, SYSTEM, now)
    for deadline in list(state.deadlines):
        if deadline.status != "pending":
            continue
        if deadline.due_at <= now:
            d.emit("DeadlineMissed", kind=deadline.kind, due_at=deadline.due_at, escalated_to="manager")
        elif deadline.reminder_at and not deadline.reminded and deadline.reminder_at <= now:
            d.emit("DeadlineReminded", kind=deadline.kind, due_at=deadline.due_at)
    return d.events


# --- which command, in which stages, does what ------------------------------------

_ALL_OPEN = tuple(s for s in Stage if s not in TERMINAL_STAGES)


@dataclass(frozen=True)
class Step:
    """A command's place in the pathway: its update name, handler, stages (and those practice 2 adds)
    and route."""

    name: str
    handler: Callable[[Decision, Any], None]
    stages: tuple[Stage, ...]
    route: str | None = None
    v2_stages: tuple[Stage, ...] = ()

    def allowed(self, state: CaseState) -> tuple[Stage, ...]:
        return self.stages + (self.v2_stages if state.v2 else ())

    def for_stage(self, stage: Stage) -> bool:
        """Whether the command may apply in `stage` at all (under some practice version: for forms)."""
        return stage in self.stages + self.v2_stages

    def for_route(self, route: str) -> bool:
        return self.route is None or self.route == route


STEPS: Mapping[type[Command], Step] = MappingProxyType(
    {
        RecordScreening: Step("record_screening", _record_screening, (S.screening,)),
        Allocate: Step("allocate", _allocate, (S.awaiting_allocation, *WORKING)),
        RecordContactAttempt: Step("record_contact_attempt", _record_contact_attempt, (S.initial_contact,)),
        RecordWarmHandover: Step("record_warm_handover", _record_warm_handover, (S.warm_handover,)),
        RecordUnannouncedVisit: Step("record_unannounced_visit", _record_unannounced_visit, (S.unannounced_visits,)),
        RecordHomeVisit: Step("record_home_visit", _record_home_visit, (S.home_visit,)),
        RecordAssessment: Step("record_assessment", _record_assessment, (S.assessment,)),
        RecordTaf: Step("record_taf", _record_taf, (S.taf_pending,)),
        RecordReview: Step("record_review", _record_review, (S.plan_active,), v2_stages=(S.masp,)),
        RequestClosure: Step(
            "request_closure",
            _request_closure,
            tuple(s for s in WORKING if s != S.engagement_decision),
            v2_stages=(S.screening, S.awaiting_allocation),
        ),
        DecideClosure: Step("decide_closure", _decide_closure, (S.closure_pending, S.engagement_decision)),
        ReferToMasp: Step("refer_to_masp", _refer_to_masp, (S.plan_active,)),
        RecordMaspOutcome: Step("record_masp_outcome", _record_masp_outcome, (S.masp,)),
        RecordSocialCareDecision: Step("record_social_care_decision", _record_social_care_decision, (S.stepped_up,)),
        WithdrawConsent: Step("withdraw_consent", _withdraw_consent, _ALL_OPEN),
        RecordConsent: Step("record_consent", _record_consent, _ALL_OPEN),
        IdentifyLeadPractitioner: Step(
            "identify_lead_practitioner", _identify_lead_practitioner, (S.awaiting_allocation,), "step_down"
        ),
        RecordLeadDeclined: Step("record_lead_declined", _record_lead_declined, (S.awaiting_allocation,), "step_down"),
        AddAgencyContribution: Step("add_agency_contribution", _add_agency_contribution, _ALL_OPEN),
        RequestAdditionalService: Step("request_additional_service", _request_additional_service, WORKING),
        TransferLocality: Step("transfer_locality", _transfer_locality, _ALL_OPEN),
        RecordChildSeen: Step("record_child_seen", _record_child_seen, WORKING),
        AddCaseNote: Step("add_case_note", _add_case_note, _ALL_OPEN),
        **{model: Step(name, handler, stages) for model, (name, handler, stages) in RECORD_COMMANDS.items()},
    }
)


def decide(state: CaseState, command: Command, now: datetime) -> list[Event]:
    """Check `command` against the pathway and emit its events (applied to `state`)."""
    step = STEPS[type(command)]
    if state.stage not in step.allowed(state):
        allowed = ", ".join(step.allowed(state))
        raise RuleBroken("wrong_stage", f"{step.name} is not allowed in stage '{state.stage}' (allowed in: {allowed})")
    if not step.for_route(state.referral.route):
        raise RuleBroken(
            "wrong_route", f"{step.name} is for {step.route} cases; this case's route is {state.referral.route!r}"
        )
    d = Decision(state, command.by, now)
    step.handler(d, command)
    return d.events
