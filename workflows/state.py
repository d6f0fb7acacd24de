"""A case's state, changed only by applying its domain events.

`apply` is the one place where state changes: the workflow replays nothing
else, and the read model (activities/) derives its tables from the same
events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType

from pydantic import AwareDatetime, Field

from workflows.models import (
    AssessmentSections,
    CaseDetails,
    CaseOutcome,
    Consent,
    Deadline,
    DocumentKept,
    Event,
    Member,
    MemberView,
    Model,
    Need,
    NeedProgress,
    PendingApproval,
    PlanAction,
    PreviousCase,
    RecordContactAttempt,
    RecordUnannouncedVisit,
    Referral,
    ScreeningDecision,
    Snapshot,
    Stage,
)
from workflows.person import PersonDetails, Relationship
from workflows.policy import Policy

# Practice versions (workflows/case.py, patch `practice-v2`): a case follows the rules of its version, so its
# history replays as it was recorded. Version 2 is docs/domain.md section 9.
PRACTICE_V1, PRACTICE_V2 = 1, 2
CURRENT_PRACTICE = PRACTICE_V2
# Roles of family members who consent for the younger children [004].
PARENT_ROLES = frozenset(
    {"parent", "carer", "mother", "father", "step-parent", "stepparent", "guardian", "foster carer", "kinship carer"}
)
CHILD_ROLES = frozenset({"child", "young person", "young_person"})


class CaseState(Model):
    referral: Referral
    practice: int = PRACTICE_V1
    policy: Policy
    recommendation: ScreeningDecision
    seq: int = 0
    stage: Stage = Stage.screening
    stage_entered_at: AwareDatetime
    # Where the case goes back to if social care declines a step-up.
    resume_stage: Stage | None = None
    consent: Consent
    needs: list[Need]
    lead_practitioner: str | None = None
    allocated_at: AwareDatetime | None = None
    contact_attempts: list[RecordContactAttempt] = Field(default_factory=list)
    visits: list[RecordUnannouncedVisit] = Field(default_factory=list)
    plan: list[PlanAction] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)
    pending_approval: PendingApproval | None = None
    outcome: CaseOutcome | None = None
    # Practice version 2 (docs/domain.md section 9):
    withdrawn: list[str] = Field(default_factory=list)  # members who withdrew their own consent
    consented: list[str] = Field(default_factory=list)  # members who gave theirs after the referral
    taf_held_at: AwareDatetime | None = None
    latest_review: list[NeedProgress] = Field(default_factory=list)
    children_seen: list[str] = Field(default_factory=list)
    declined_leads: list[str] = Field(default_factory=list)
    paused: list[str] = Field(default_factory=list)  # deadlines a step-up paused, set again on return
    previous_cases: list[PreviousCase] = Field(default_factory=list)
    re_referral: bool = False
    # The family record and what practitioners write (third version):
    left: list[str] = Field(default_factory=list)  # members who left the household
    joined: list[str] = Field(default_factory=list)  # members who joined after the referral: their own consent
    relationships: list[Relationship] = Field(default_factory=list)
    documents: list[DocumentKept] = Field(default_factory=list)
    assessment_draft: AssessmentSections | None = None
    supervisions: list[AwareDatetime] = Field(default_factory=list)  # when each was held
    # The edition of the bank holidays this run computes deadlines under (workflows/bank_holidays.py), chosen by
    # the workflow at the run's start; a deadline already set keeps the date it was given.
    bank_holidays: int = Field(1, ge=1)

    @property
    def v2(self) -> bool:
        return self.practice >= PRACTICE_V2

    def consenters(self, year: int) -> list[str]:
        """Whose consent early help needs: every parent or carer and every member of the policy's age or
        over (from year_of_birth); younger children are consented for by their parents [004]."""
        age = self.policy.own_consent_age
        return [
            m.person_ref
            for m in self.household()
            if m.role.casefold() in PARENT_ROLES or (m.year_of_birth is not None and year - m.year_of_birth >= age)
        ]

    def household(self) -> list[Member]:
        """The members still in the household: consent follows who joins and who leaves."""
        return [m for m in self.referral.family.members if m.person_ref not in self.left]

    def consent_missing(self, year: int) -> list[str]:
        """The members whose consent is needed and not given; 'family' for a family with no members known."""
        people = self.consenters(year)
        if not people:
            return [] if self.consent.given else ["family"]

        def has(p: str) -> bool:
            return (self.consent.given and p not in self.withdrawn and p not in self.joined) or p in self.consented

        return [p for p in people if not has(p)]

    def children(self) -> list[str]:
        return [m.person_ref for m in self.household() if m.role.casefold() in CHILD_ROLES]

    def pending(self, kind: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.kind == kind and d.status == "pending"), None)

    def next_wake(self) -> datetime | None:
        """The earliest reminder or due time still to act on: the workflow's next timer."""
        times = [d.due_at for d in self.deadlines if d.status == "pending"]
        times += [d.reminder_at for d in self.deadlines if d.status == "pending" and d.reminder_at and not d.reminded]
        return min(times, default=None)

    def next_deadline(self) -> datetime | None:
        return min((d.due_at for d in self.deadlines if d.status == "pending"), default=None)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            case_id=self.referral.case_id,
            route=self.referral.route,
            stage=self.stage,
            locality=self.referral.locality,
            lead_practitioner=self.lead_practitioner,
            needs=self.needs,
            deadlines=self.deadlines,
            pending_approval=self.pending_approval,
            outcome=self.outcome,
            threshold_recommendation=self.recommendation,
            consent_given=not self.consent_missing(self.stage_entered_at.year) if self.v2 else self.consent.given,
            next_deadline=self.next_deadline(),
            events=self.seq,
            previous_cases=self.previous_cases,
            re_referral=self.re_referral,
            consent_missing=self.consent_missing(self.stage_entered_at.year) if self.v2 else [],
            children_seen=self.children_seen,
        )

    def details(self) -> CaseDetails:
        return CaseDetails(
            members=self.member_views(),
            plan=self.plan,
            received_at=self.referral.received_at,
            referrer_agency=self.referral.referrer.agency,
            keyed_by=self.referral.keyed_by,
            relationships=[*self.referral.family.relationships, *self.relationships],  # at referral, then since
            documents=self.documents,
            assessment_draft=self.assessment_draft,
            supervisions=self.supervisions,
            step_down=self.referral.step_down,
        )

    def member_views(self) -> list[MemberView]:
        year = self.stage_entered_at.year
        needed, missing = set(self.consenters(year)), set(self.consent_missing(year))
        return [
            MemberView(
                person_ref=m.person_ref,
                role=m.role,
                year_of_birth=m.year_of_birth,
                consent="missing" if m.person_ref in missing else "given" if m.person_ref in needed else "not needed",
                seen=m.person_ref in self.children_seen,
                details=m.details,
                lives_in_household=m.lives_in_household and m.person_ref not in self.left,
            )
            for m in self.referral.family.members
        ]


def new_state(referral: Referral, recommendation: ScreeningDecision, practice: int = PRACTICE_V1) -> CaseState:
    return CaseState(
        referral=referral,
        practice=practice,
        policy=referral.effective_policy,
        recommendation=recommendation,
        stage_entered_at=referral.received_at,
        consent=referral.consent,
        needs=referral.needs,
    )


# --- appliers: one per event type that changes state --------------------------


def _stage_changed(s: CaseState, e: Event) -> None:
    s.stage = Stage(e.data["to"])
    s.stage_entered_at = e.at


def _deadline_set(s: CaseState, e: Event) -> None:
    if old := s.pending(e.data["kind"]):
        old.status = "cancelled"
    s.deadlines.append(
        Deadline(kind=e.data["kind"], due_at=e.data["due_at"], reminder_at=e.data.get("reminder_at"), set_at=e.at)
    )


def _deadline_status(status: str) -> Callable[[CaseState, Event], None]:
    def apply_status(s: CaseState, e: Event) -> None:
        deadline = next(d for d in reversed(s.deadlines) if d.kind == e.data["kind"])
        deadline.status = status  # type: ignore[assignment]
        if "completed_at" in e.data:
            deadline.completed_at = datetime.fromisoformat(e.data["completed_at"])

    return apply_status


def _deadline_reminded(s: CaseState, e: Event) -> None:
    deadline = s.pending(e.data["kind"])
    assert deadline is not None
    deadline.reminded = True


def _deadline_completed_late(s: CaseState, e: Event) -> None:
    deadline = next(d for d in reversed(s.deadlines) if d.kind == e.data["kind"])
    deadline.completed_at = datetime.fromisoformat(e.data["completed_at"])


def _allocated(s: CaseState, e: Event) -> None:
    s.lead_practitioner = e.data["lead_practitioner"]
    if s.allocated_at is None:
        s.allocated_at = e.at


def _lead_identified(s: CaseState, e: Event) -> None:
    s.lead_practitioner = e.data["practitioner"]
    s.allocated_at = s.allocated_at or e.at


def _contact_attempt(s: CaseState, e: Event) -> None:
    s.contact_attempts.append(
        RecordContactAttempt(by=e.by, at=e.at, method=e.data["method"], outcome=e.data["outcome"])
    )


def _visit(s: CaseState, e: Event) -> None:
    s.visits.append(
        RecordUnannouncedVisit(by=e.by, at=e.at, outcome=e.data["outcome"], letter_left=e.data["letter_left"])
    )


def _ladder_restarted(s: CaseState, e: Event) -> None:
    s.contact_attempts = []
    s.visits = []


def _assessment(s: CaseState, e: Event) -> None:
    s.needs = [Need.model_validate(n) for n in e.data["needs"]]


def plan_after(plan: list[PlanAction], e: Event) -> list[PlanAction]:
    """The family plan once this event is applied: agreed at the TAF meeting, updated as a whole, or rated and
    closed action by action at a review. The case and the plan's printed versions (activities/papers.py) both
    follow it."""
    if e.type in ("TafHeld", "PlanUpdated"):
        return [PlanAction.model_validate(a) for a in e.data["actions"]]
    updates = {u["action_id"]: u for u in e.data.get("action_updates", [])} if e.type == "ReviewHeld" else {}
    return [
        a.model_copy(update={k: v for k, v in updates[a.action_id].items() if k in ("rag", "closed")})
        if a.action_id in updates
        else a
        for a in plan
    ]


def _taf(s: CaseState, e: Event) -> None:
    s.plan = plan_after(s.plan, e)
    held = e.data.get("held_at")
    s.taf_held_at = s.taf_held_at or (datetime.fromisoformat(held) if isinstance(held, str) else held or e.at)


def _plan(s: CaseState, e: Event) -> None:
    s.plan = plan_after(s.plan, e)


def _review(s: CaseState, e: Event) -> None:
    s.latest_review = [NeedProgress.model_validate(p) for p in e.data.get("progress", [])]
    s.plan = plan_after(s.plan, e)  # what the review says of each action of the plan (third version)


def _child_seen(s: CaseState, e: Event) -> None:
    if e.data["person_ref"] not in s.children_seen:
        s.children_seen.append(e.data["person_ref"])


def _lead_declined(s: CaseState, e: Event) -> None:
    s.declined_leads.append(e.data["practitioner"])


def _locality_transferred(s: CaseState, e: Event) -> None:
    s.referral = s.referral.model_copy(update={"locality": e.data["to"]})


def _previous_cases(s: CaseState, e: Event) -> None:
    s.previous_cases = [PreviousCase.model_validate(c) for c in e.data["cases"]]
    s.re_referral = e.data["re_referral"]


def _practice(s: CaseState, e: Event) -> None:
    s.practice = e.data["version"]


def _closure_requested(s: CaseState, e: Event) -> None:
    s.pending_approval = PendingApproval(
        reason=e.data["reason"],
        requested_by=e.by,
        requested_at=e.at,
        need_outcomes=e.data.get("need_outcomes", []),
        resume_stage=e.data["resume_stage"],
    )


def _approval_cleared(s: CaseState, e: Event) -> None:
    s.pending_approval = None


def _stepped_up(s: CaseState, e: Event) -> None:
    s.resume_stage = Stage(e.data["resume_stage"])
    s.paused = list(e.data.get("paused", []))


def _consent(given: bool) -> Callable[[CaseState, Event], None]:
    def apply_consent(s: CaseState, e: Event) -> None:
        if person := e.data.get("person_ref"):  # one member's own consent (practice 2) [004]
            s.consented = [p for p in s.consented if p != person] + ([person] if given else [])
            s.withdrawn = [p for p in s.withdrawn if p != person] + ([] if given else [person])
            return
        s.consent = Consent.model_validate(e.data["consent"]) if given else Consent(given=False, recorded_by=e.by)
        s.withdrawn, s.consented = [], []

    return apply_consent


def _members(s: CaseState, members: list[Member]) -> None:
    family = s.referral.family.model_copy(update={"members": members})
    s.referral = s.referral.model_copy(update={"family": family})


def _person_details(s: CaseState, e: Event) -> None:
    def updated(m: Member) -> Member:
        if m.person_ref != e.data["person_ref"]:
            return m
        before = m.details.given() if m.details else {}
        return m.model_copy(update={"details": PersonDetails.model_validate(before | e.data["details"])})

    _members(s, [updated(m) for m in s.referral.family.members])


def _member_added(s: CaseState, e: Event) -> None:
    _members(s, [*s.referral.family.members, Member.model_validate(e.data["member"])])
    s.joined.append(e.data["member"]["person_ref"])


def _member_left(s: CaseState, e: Event) -> None:
    s.left.append(e.data["person_ref"])


def _relationship(s: CaseState, e: Event) -> None:
    s.relationships.append(Relationship.model_validate(e.data))


def _document(s: CaseState, e: Event) -> None:
    s.documents.append(DocumentKept.model_validate({**e.data, "recorded_at": e.at, "recorded_by": e.by}))


def _document_removed(s: CaseState, e: Event) -> None:
    s.documents = [
        doc.model_copy(update={"removed": True}) if doc.document_id == e.data["document_id"] else doc
        for doc in s.documents
    ]


def draft_after(draft: AssessmentSections | None, e: Event) -> AssessmentSections:
    """The assessment's draft once a save is applied. A save made section by section (`merge`, third version)
    changes the sections it gives (a child's voice or a need's analysis one by one) and keeps the rest; a save
    recorded before it stood for the whole draft. The case and the printed assessment (activities/papers.py)
    both follow it."""
    given = e.data["sections"]
    if e.data.get("merge") and draft is not None:
        before = draft.model_dump(mode="json")
        given = before | {k: (before.get(k) or {}) | v if isinstance(v, dict) else v for k, v in given.items()}
    return AssessmentSections.model_validate(given)


def _draft(s: CaseState, e: Event) -> None:
    s.assessment_draft = draft_after(s.assessment_draft, e)


def _supervision(s: CaseState, e: Event) -> None:
    s.supervisions.append(e.at)


def _ended(s: CaseState, e: Event) -> None:
    for d in s.deadlines:
        if d.status == "pending":
            d.status = "cancelled"
    s.pending_approval = None
    s.outcome = CaseOutcome(case_id=s.referral.case_id, final_stage=s.stage, reason=e.data["reason"], closed_at=e.at)


APPLIERS: Mapping[str, Callable[[CaseState, Event], None]] = MappingProxyType(
    {
        "StageChanged": _stage_changed,
        "DeadlineSet": _deadline_set,
        "DeadlineMet": _deadline_status("met"),
        "DeadlineMissed": _deadline_status("missed"),
        "DeadlineCancelled": _deadline_status("cancelled"),
        "DeadlineCompletedLate": _deadline_completed_late,
        "DeadlineReminded": _deadline_reminded,
        "CaseAllocated": _allocated,
        "LeadPractitionerIdentified": _lead_identified,
        "ContactAttemptRecorded": _contact_attempt,
        "UnannouncedVisitRecorded": _visit,
        "ContactLadderRestarted": _ladder_restarted,
        "AssessmentRecorded": _assessment,
        "TafHeld": _taf,
        "ReviewHeld": _review,
        "ChildSeen": _child_seen,
        "LeadDeclined": _lead_declined,
        "LocalityTransferred": _locality_transferred,
        "PreviousCasesFound": _previous_cases,
        "PracticeVersionSet": _practice,
        "ClosureRequested": _closure_requested,
        "ClosureDecided": _approval_cleared,
        "ApprovalCancelled": _approval_cleared,
        "SteppedUp": _stepped_up,
        "ConsentRecorded": _consent(True),
        "ConsentWithdrawn": _consent(False),
        "PersonDetailsRecorded": _person_details,
        "FamilyMemberAdded": _member_added,
        "FamilyMemberLeft": _member_left,
        "RelationshipRecorded": _relationship,
        "DocumentRecorded": _document,
        "DocumentRemoved": _document_removed,
        "AssessmentDraftSaved": _draft,
        "PlanUpdated": _plan,
        "SupervisionRecorded": _supervision,
        "CaseEnded": _ended,
    }
)


def apply(state: CaseState, event: Event) -> None:
    """Apply one event. Events with no applier only record a fact."""
    if event.seq != state.seq + 1:
        raise ValueError(f"event {event.seq} out of order after {state.seq}")
    state.seq = event.seq
    if applier := APPLIERS.get(event.type):
        applier(state, event)


class Carried(Model):
    """What a case takes into its next run on continue-as-new: its state and what is not saved yet.

    Runs from before `carry-state-not-timeline` (workflows/case.py) also carried every event so far.
    """

    state: CaseState
    timeline: list[Event] = Field(default_factory=list)
    unsaved: list[Event] = Field(default_factory=list)
