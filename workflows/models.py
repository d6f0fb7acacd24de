"""The case workflow's public contract (docs/running-a-case.md), as pydantic models.

One definition of every input, command, signal, query result and event,
imported by the workflow, the activities and the CLI alike. Field names are
fixed by the contract: renaming one is a breaking change.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from workflows.bounds import (
    FEW,
    MANY,
    SOME,
    Contact,
    Day,
    Id,
    Name,
    OptionalReason,
    OptionalSummary,
    Reason,
    Summary,
    When,
)
from workflows.person import Email, PersonDetails, Relationship, RelationshipKind, relationship_problem
from workflows.policy import DEFAULT_LOCALITIES, Policy


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- vocabularies -----------------------------------------------------------


class NeedCode(StrEnum):
    """The ten headline outcomes of the Supporting Families framework (2022-25)."""

    education = "education"
    early_years = "early_years"
    health = "health"
    substance_use = "substance_use"
    family_relationships = "family_relationships"
    abuse_exploitation = "abuse_exploitation"
    crime = "crime"
    domestic_abuse = "domestic_abuse"
    housing = "housing"
    finance = "finance"


class Stage(StrEnum):
    screening = "screening"
    awaiting_allocation = "awaiting_allocation"
    initial_contact = "initial_contact"
    warm_handover = "warm_handover"
    unannounced_visits = "unannounced_visits"
    engagement_decision = "engagement_decision"
    home_visit = "home_visit"
    assessment = "assessment"
    taf_pending = "taf_pending"
    plan_active = "plan_active"
    masp = "masp"
    closure_pending = "closure_pending"
    stepped_up = "stepped_up"
    # terminal
    signposted = "signposted"
    closed = "closed"
    transferred_to_social_care = "transferred_to_social_care"


TERMINAL_STAGES = frozenset({Stage.signposted, Stage.closed, Stage.transferred_to_social_care})

Route = Literal["referral", "step_down"]
ScreeningDecision = Literal["accept", "signpost", "step_up"]
ContactMethod = Literal["phone", "text", "email", "letter"]
ContactOutcome = Literal["reached", "no_answer", "declined"]
VisitOutcome = Literal["seen", "no_answer"]
ProgressStatus = Literal["met", "partly_met", "not_met"]
ClosureReason = Literal["needs_met", "needs_not_met", "unable_to_engage", "consent_withdrawn", "moved_away"]
MaspCriterion = Literal["no_improvement", "escalation", "high_cost", "re_referrals", "risk_of_accommodation"]
MaspOutcome = Literal["resources_agreed", "susd", "larp"]
DeadlineKind = Literal[
    "screening_decision",
    "first_contact_attempt",
    "warm_handover_answer",
    "taf",
    "review",
    "closure_decision",
    "allocation",
    "social_care_decision",
    "see_children",
]
DeadlineStatus = Literal["pending", "met", "missed", "cancelled"]


# --- the referral (start input) ---------------------------------------------


class Member(Model):
    person_ref: Id
    role: Name
    year_of_birth: int | None = Field(None, ge=1900, le=2100)
    details: PersonDetails | None = None
    lives_in_household: bool = True


class Family(Model):
    family_ref: Id
    members: list[Member] = Field(default_factory=list, max_length=SOME)
    relationships: list[Relationship] = Field(default_factory=list, max_length=MANY)

    @model_validator(mode="after")
    def _known_members(self) -> Family:
        refs = [m.person_ref for m in self.members]
        if len(set(refs)) != len(refs):
            raise ValueError("members: each person_ref may appear once")
        for n, relationship in enumerate(self.relationships):
            if problem := relationship_problem(relationship, refs):
                raise ValueError(f"relationships.{n}: {problem}")
        return self


class Referrer(Model):
    name: Name
    agency: Name
    contact: Contact


class Need(Model):
    code: NeedCode
    description: OptionalReason = ""
    complex: bool = False


class Consent(Model):
    given: bool = False
    recorded_by: Id | None = None
    form_ref: Id | None = None


class StepDown(Model):
    social_worker: Id
    cin_meeting_agreed_plan: bool = False
    prior_assessment: OptionalSummary | None = None
    preferred_lead: Id | None = Field(None, description="the practitioner the family would like as their lead")
    cin_plan_summary: OptionalSummary | None = Field(
        None, description="what the Child in Need plan says is still to do: carried into the family plan"
    )


def _distinct_needs(needs: list[Any]) -> None:
    codes = [n if isinstance(n, str) else n.code for n in needs]
    if len(set(codes)) != len(codes):
        raise ValueError("each need code may appear once")


class Referral(Model):
    case_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    route: Route = "referral"
    received_at: When
    locality: Name
    family: Family
    referrer: Referrer
    needs: list[Need] = Field(default_factory=list, max_length=len(NeedCode))
    consent: Consent = Field(default_factory=Consent)
    immediate_safeguarding: bool = False
    previous_referrals: int = Field(0, ge=0, le=1000)
    step_down: StepDown | None = None
    policy: Policy | None = None
    keyed_by: Id | None = Field(
        None, description="who keyed the referral in (the signed-in screener); the referrer is its source"
    )

    @model_validator(mode="after")
    def _route_matches_details(self) -> Referral:
        if self.route == "step_down" and self.step_down is None:
            raise ValueError("a step_down referral needs step_down details (social worker, CIN plan) [004]")
        if self.route == "referral" and self.step_down is not None:
            raise ValueError("step_down details are only for route 'step_down'")
        _distinct_needs(self.needs)
        if self.policy is not None and tuple(self.policy.localities) != DEFAULT_LOCALITIES:
            raise ValueError("policy.localities: the localities are the deployment's, not a referral's")
        if self.locality not in self.effective_policy.localities:
            raise ValueError(f"locality {self.locality!r} is not one of {self.effective_policy.localities}")
        return self

    @property
    def effective_policy(self) -> Policy:
        return self.policy or Policy()


# --- commands (workflow updates) ---------------------------------------------


class Command(Model):
    by: Id = Field(description="who acts (a staff id, never a family member's name)")


class Recorded(Command):
    at: When | None = Field(None, description="when it happened; defaults to the workflow's now")


class RecordScreening(Command):
    """The screener's decision: accept, signpost (below threshold) or step up [000]."""

    decision: ScreeningDecision
    reason: OptionalReason | None = None
    services: list[Name] = Field(default_factory=list, max_length=FEW)


class Allocate(Command):
    """Allocate (or reallocate, with a reason) the lead practitioner; allocation starts the TAF clock [003]."""

    lead_practitioner: Id
    reason: OptionalReason | None = Field(None, description="why the case is reallocated (required then)")


class TransferLocality(Command):
    """Move the case to another locality's team; its history stays [DOMAIN 9]."""

    locality: Name
    reason: Reason


class RecordChildSeen(Recorded):
    """A child of the family seen by the lead practitioner [001][003]."""

    person_ref: Id


NoteKind = Literal["phone", "visit", "email", "meeting", "other"]


class AddCaseNote(Recorded):
    """A case note for the chronology, marked significant or not [DOMAIN 9]."""

    text: Summary
    significant: bool = False
    kind: NoteKind | None = Field(None, description="how it came about: phone, visit, email, meeting, other")


class RecordContactAttempt(Recorded):
    """A contact attempt with the family; every attempt is recorded [003]."""

    method: ContactMethod
    outcome: ContactOutcome
    note: OptionalSummary | None = None


class RecordWarmHandover(Recorded):
    """The referrer's warm handover: reached or failed [003]."""

    outcome: Literal["reached", "failed"]


class RecordUnannouncedVisit(Recorded):
    """An unannounced visit, with a letter left if nobody answered [003]."""

    outcome: VisitOutcome
    letter_left: bool
    note: OptionalSummary | None = None


class RecordHomeVisit(Recorded):
    """The first home visit: agreement, genogram, children seen [003]."""

    agreement_given: bool
    genogram_started: bool
    children_seen: bool


class RecordAssessment(Recorded):
    """The Signs of Safety assessment, triangulated from two or more sources [003]."""

    worries: list[Reason] = Field(min_length=1, max_length=SOME)
    working_well: list[Reason] = Field(default_factory=list, max_length=SOME)
    needs_to_happen: list[Reason] = Field(min_length=1, max_length=SOME)
    scaling: int = Field(ge=0, le=10)
    sources: list[Name] = Field(max_length=FEW)
    needs: list[Need] = Field(min_length=1, max_length=len(NeedCode))

    @model_validator(mode="after")
    def _needs_once(self) -> RecordAssessment:
        _distinct_needs(self.needs)
        return self


Rag = Literal["red", "amber", "green"]


class PlanAction(Model):
    need_code: NeedCode
    action: Reason
    owner: Name
    due: Day
    action_id: Id | None = Field(None, description="the action's id in the plan, for later updates")
    better_when: OptionalReason | None = Field(None, description="what will be better when it is done")
    rag: Rag | None = None
    closed: bool | None = Field(None, description="true once the action is done or dropped")


class RecordTaf(Command):
    """The initial Team Around the Family meeting and its family plan [001][003]."""

    held_at: When
    virtual: bool = False
    attendees: list[Name] = Field(min_length=1, max_length=SOME)
    actions: list[PlanAction] = Field(min_length=1, max_length=MANY)
    review_date: Day
    apologies: list[Name] = Field(default_factory=list, max_length=SOME, description="invited but not there")
    minutes: OptionalSummary | None = Field(None, description="what the meeting discussed and agreed")


class NeedProgress(Model):
    need_code: NeedCode
    status: ProgressStatus


class ActionUpdate(Model):
    """What a review says of one action of the plan (by its action_id)."""

    action_id: Id
    rag: Rag | None = None
    closed: bool | None = None
    note: OptionalReason | None = None


class RecordReview(Command):
    """A progress review of the plan, with the next review date [003]."""

    held_at: When
    progress: list[NeedProgress] = Field(min_length=1, max_length=len(NeedCode))
    next_review_date: Day
    narrative: OptionalSummary | None = None
    attendees: list[Name] = Field(default_factory=list, max_length=SOME)
    action_updates: list[ActionUpdate] = Field(default_factory=list, max_length=MANY)


class NeedOutcome(Model):
    need_code: NeedCode
    summary: Summary
    status: ProgressStatus | None = Field(None, description="met, partly_met or not_met at closure")


class RequestClosure(Command):
    """Ask a manager's permission to close, with how each need was met [003]."""

    reason: ClosureReason
    need_outcomes: list[NeedOutcome] = Field(default_factory=list, max_length=len(NeedCode))


class DecideClosure(Command):
    """A manager's decision on a pending closure; never the requester's [003]."""

    approve: bool
    reason: Reason


class ReferToMasp(Command):
    """Refer to the Multi Agency Support Panel [000]."""

    criteria: list[MaspCriterion] = Field(min_length=1, max_length=FEW)


class RecordMaspOutcome(Command):
    """The panel's outcome: resources agreed, SUSD or LARP [000]."""

    outcome: MaspOutcome
    notes: OptionalSummary = ""


class RecordSocialCareDecision(Command):
    """Children's social care accepts or declines a step-up [003]."""

    accepted: bool
    reason: OptionalReason | None = None


class WithdrawConsent(Command):
    """The family, or one member (person_ref), withdraws consent [004]."""

    reason: Reason
    person_ref: Id | None = Field(None, description="one member's withdrawal; none: the whole family's")


class RecordConsent(Command):
    """Consent given after the referral, by the family or one member (person_ref) [004]."""

    consent: Consent
    person_ref: Id | None = Field(None, description="one member's consent; none: the whole family's")


class IdentifyLeadPractitioner(Command):
    """Step-down: the lead practitioner, ideally the family's choice [004]."""

    practitioner: Id
    chosen_by_family: bool


class RecordLeadDeclined(Command):
    """Step-down: a practitioner declines the lead role, with reasons [004]."""

    practitioner: Id
    reason: Reason


class AddAgencyContribution(Command):
    """An agency adds its part to the assessment while it is open (a step-down's EHA left open [004])."""

    agency: Name
    summary: Summary


class RequestAdditionalService(Command):
    """A Request for Additional Service: the family's needs and why [004]."""

    service: Name
    needs: list[NeedCode] = Field(min_length=1, max_length=len(NeedCode))
    reason: Reason


# --- the family record (third version) ---------------------------------------


class RecordPersonDetails(Command, PersonDetails):
    """A member's details: names, date of birth, address, contacts, NHS number, UPN, school, GP, language,
    ethnicity, disability. Only the details given change."""

    person_ref: Id

    @model_validator(mode="after")
    def _something(self) -> RecordPersonDetails:
        if not PersonDetails.model_validate(self.model_dump(exclude={"by", "person_ref"})).given():
            raise ValueError("give at least one of the person's details")
        return self


class AddFamilyMember(Command):
    """Someone joins the family (a new baby, a partner moving in): their consent is then needed like anyone's."""

    member: Member

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: Any) -> Any:
        """The member's fields may also be given beside `by`, not inside `member`."""
        if isinstance(data, dict) and "member" not in data and "person_ref" in data:
            return {"by": data.get("by"), "member": {k: v for k, v in data.items() if k != "by"}}
        return data


class RecordMemberLeft(Command):
    """A member leaves the household: their consent is no longer needed; their record stays."""

    person_ref: Id
    reason: Reason


class RecordRelationship(Command):
    """How two members are related (the genogram): `from_ref` is the `kind` of `to_ref`."""

    from_ref: Id
    to_ref: Id
    kind: RelationshipKind


class RecordDocument(Command):
    """A document kept on the case (a signed consent form, a school report, a CIN plan): its id, kind, the
    SHA-256 of its content and its file name."""

    document_id: Id
    kind: Name
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="lower-case hex")
    filename: Name = Field(pattern=r"^[^/\\\x00-\x1f]+$")


class RemoveDocument(Command):
    """Remove a document kept on the case (kept in error, or no longer to be held): its file is destroyed, the
    chronology keeps that it was kept and removed, by whom and why."""

    document_id: Id
    reason: Reason


# --- what practitioners write (third version) ---------------------------------


class AssessmentSections(Model):
    """The Early Help Assessment's parts as a practitioner writes them, before it is finalised."""

    child_voice: dict[Id, Summary] = Field(default_factory=dict, max_length=SOME, description="per child")
    parents_view: OptionalSummary | None = None
    strengths: list[Reason] = Field(default_factory=list, max_length=SOME)
    worries: list[Reason] = Field(default_factory=list, max_length=SOME)
    working_well: list[Reason] = Field(default_factory=list, max_length=SOME)
    needs_to_happen: list[Reason] = Field(default_factory=list, max_length=SOME)
    scaling: int | None = Field(None, ge=0, le=10)
    analysis: dict[NeedCode, Summary] = Field(default_factory=dict, description="per need")
    sources: list[Name] = Field(default_factory=list, max_length=FEW)


class SaveAssessmentDraft(Command):
    """Save the assessment as it stands (its sections); record_assessment finalises it."""

    sections: AssessmentSections


class UpdatePlan(Command):
    """The family plan as it now stands: each action with what will be better, its owner, due date and RAG."""

    actions: list[PlanAction] = Field(min_length=1, max_length=MANY)

    @model_validator(mode="after")
    def _ids(self) -> UpdatePlan:
        ids = [a.action_id for a in self.actions]
        if None in ids:
            raise ValueError("actions: each action needs its action_id")
        if len(set(ids)) != len(ids):
            raise ValueError("actions: each action_id may appear once")
        return self


class RecordSupervision(Command):
    """A manager's supervision of the case: reflection, decisions and actions."""

    held_at: When
    reflection: Summary
    decisions: list[Reason] = Field(default_factory=list, max_length=SOME)
    actions: list[Reason] = Field(default_factory=list, max_length=SOME)


class Invitee(Model):
    name: Name
    email: Email


class InviteToTaf(Command):
    """Invite the family and the agencies to a Team Around the Family meeting (the first, or a review): each
    invitee is emailed when and where it is, through GOV.UK Notify."""

    meeting_at: When
    place: Reason = Field(description="where it is, or how to join it online")
    invitees: list[Invitee] = Field(min_length=1, max_length=SOME)


# --- signal ------------------------------------------------------------------


class SafeguardingConcern(Model):
    by: Id
    details: Summary
    at: When | None = None
    person_refs: list[Id] = Field(default_factory=list, max_length=SOME, description="the children it is about")
    category: Name | None = Field(None, description="e.g. neglect, physical, emotional, sexual, exploitation")
    police_informed: bool | None = None


class MashReferralRef(Model):
    """A referral to MASH: the case and the event that made it (workflows/mash.py)."""

    case_id: Id
    seq: int = Field(ge=1, le=10_000_000)


class MashAcknowledgement(Model):
    """The MASH team has the referral (the `acknowledge` update of its MashReferralWatch)."""

    by: Id = Field(description="who acknowledges (a member of the MASH team)")
    at: When | None = Field(None, description="set by the engine: when it was acknowledged")


# --- queries and result ------------------------------------------------------


class PreviousCase(Model):
    """An earlier (or still open) case of the same family or of one of its people."""

    case_id: str
    received_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    final_stage: str | None = None
    # person_details: a member's NHS number, UPN, or names and date of birth (the family keyed with new references)
    matched_on: Literal["family_ref", "person_ref", "person_details"]


class Deadline(Model):
    kind: DeadlineKind
    due_at: AwareDatetime
    status: DeadlineStatus = "pending"
    reminder_at: AwareDatetime | None = None
    reminded: bool = False
    set_at: AwareDatetime
    completed_at: AwareDatetime | None = None


class PendingApproval(Model):
    reason: ClosureReason
    requested_by: str
    requested_at: AwareDatetime
    need_outcomes: list[NeedOutcome] = Field(default_factory=list)
    resume_stage: Stage


class MemberView(Model):
    """A family member as the case page shows them: consent is `given`, `missing` or `not needed` (a younger
    child, consented for by their parents [004])."""

    person_ref: str
    role: str
    year_of_birth: int | None = None
    consent: Literal["given", "missing", "not needed"]
    seen: bool = False
    details: PersonDetails | None = None
    lives_in_household: bool = True


class DocumentKept(Model):
    """A document kept on the case, as record_document recorded it."""

    document_id: str
    kind: str
    sha256: str
    filename: str
    recorded_at: AwareDatetime
    recorded_by: str
    removed: bool = False


class CaseDetails(Model):
    """For the case page (the `details` query): the family, the plan, the referral's source and keyer. Kept
    out of the Snapshot that every command answers with, so a large plan never weighs on the history."""

    members: list[MemberView] = Field(default_factory=list)
    plan: list[PlanAction] = Field(default_factory=list)
    received_at: AwareDatetime | None = None
    referrer_agency: str = ""
    keyed_by: str | None = None
    relationships: list[Relationship] = Field(default_factory=list)
    documents: list[DocumentKept] = Field(default_factory=list)
    assessment_draft: AssessmentSections | None = None
    supervisions: list[AwareDatetime] = Field(default_factory=list)
    step_down: StepDown | None = None


class Snapshot(Model):
    case_id: str
    route: Route
    stage: Stage
    locality: str
    lead_practitioner: str | None
    needs: list[Need]
    deadlines: list[Deadline]
    pending_approval: PendingApproval | None
    outcome: CaseOutcome | None
    threshold_recommendation: ScreeningDecision
    consent_given: bool
    next_deadline: AwareDatetime | None
    # How many domain events the case has recorded (its last seq): clients wait for the read model to reach it.
    events: int = 0
    # Known families [000][002]: earlier cases found by the engine, and whether this is a re-referral
    # (within the policy's months of the family's last closure).
    previous_cases: list[PreviousCase] = Field(default_factory=list)
    re_referral: bool = False
    # Consent per person [004]: members whose consent is needed and missing.
    consent_missing: list[str] = Field(default_factory=list)
    children_seen: list[str] = Field(default_factory=list)


class Event(Model):
    """A domain event: past tense, one per fact, numbered per case from 1."""

    seq: int = Field(ge=1)
    type: str
    at: AwareDatetime
    by: str
    data: dict[str, Any] = Field(default_factory=dict)


class CaseOutcome(Model):
    case_id: str
    final_stage: Stage
    reason: str
    closed_at: datetime


Snapshot.model_rebuild()
