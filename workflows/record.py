"""The family record and what practitioners write (third version): the commands that keep the people, their
household and relationships, the case's documents, the assessment as it is drafted, the plan as it changes,
and supervision. Each records an event; none moves the case along the pathway, so each is open in every
stage of an open case but where the practice says otherwise (the assessment's draft, the plan).

The pathway (workflows/pathway.py) makes a Step of each entry of RECORD_COMMANDS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from workflows.calendar import local_date, spoken_date, spoken_time
from workflows.models import (
    TERMINAL_STAGES,
    AddFamilyMember,
    InviteToTaf,
    Member,
    RecordDocument,
    RecordMemberLeft,
    RecordPersonDetails,
    RecordRelationship,
    RecordSupervision,
    RemoveDocument,
    SaveAssessmentDraft,
    Stage,
    UpdatePlan,
)
from workflows.person import PersonDetails, Relationship, relationship_problem
from workflows.rules import RuleBroken

if TYPE_CHECKING:
    from workflows.pathway import Decision

S = Stage
OPEN = tuple(s for s in Stage if s not in TERMINAL_STAGES)
# An unborn child's expected date: within about ten months of the record.
EXPECTED_WITHIN = timedelta(days=300)


def _member_refs(d: Decision) -> list[str]:
    return [m.person_ref for m in d.state.referral.family.members]


def _a_member(d: Decision, person_ref: str) -> Member:
    for m in d.state.referral.family.members:
        if m.person_ref == person_ref:
            return m
    known = ", ".join(_member_refs(d)) or "no members recorded"
    raise RuleBroken("member_of_the_family", f"person_ref: {person_ref!r} is not a member of this family ({known})")


def _check_dates(d: Decision, details: PersonDetails | None) -> None:
    if details is None:
        return
    today = local_date(d.now)
    if details.date_of_birth is not None and details.date_of_birth > today:
        raise RuleBroken("born_in_the_past", f"date_of_birth: {spoken_date(details.date_of_birth)} is after today")
    if details.expected_date is not None and not today <= details.expected_date <= today + EXPECTED_WITHIN:
        raise RuleBroken(
            "expected_within_months",
            f"expected_date: {spoken_date(details.expected_date)} is not within the next ten months",
        )


def _record_person_details(d: Decision, c: RecordPersonDetails) -> None:
    _a_member(d, c.person_ref)
    details = PersonDetails.model_validate(c.model_dump(exclude={"by", "person_ref"}))
    _check_dates(d, details)
    d.emit("PersonDetailsRecorded", person_ref=c.person_ref, details=details.given())


def _add_family_member(d: Decision, c: AddFamilyMember) -> None:
    if c.member.person_ref in _member_refs(d):
        raise RuleBroken("new_member", f"person_ref: {c.member.person_ref!r} is already a member of this family")
    _check_dates(d, c.member.details)
    d.emit("FamilyMemberAdded", member=c.member.model_dump(mode="json", exclude_none=True))


def _record_member_left(d: Decision, c: RecordMemberLeft) -> None:
    _a_member(d, c.person_ref)
    if c.person_ref in d.state.left:
        raise RuleBroken("in_the_household", f"person_ref: {c.person_ref!r} has left the household already")
    d.emit("FamilyMemberLeft", person_ref=c.person_ref, reason=c.reason)


def _record_relationship(d: Decision, c: RecordRelationship) -> None:
    relationship = Relationship(from_ref=c.from_ref, to_ref=c.to_ref, kind=c.kind)
    if problem := relationship_problem(relationship, _member_refs(d)):
        raise RuleBroken("member_of_the_family", problem)
    d.emit("RelationshipRecorded", **relationship.model_dump())


def _record_document(d: Decision, c: RecordDocument) -> None:
    if any(doc.document_id == c.document_id for doc in d.state.documents):
        raise RuleBroken("new_document", f"document_id: {c.document_id!r} is kept on this case already")
    d.emit("DocumentRecorded", **c.model_dump(exclude={"by"}))


def _remove_document(d: Decision, c: RemoveDocument) -> None:
    kept = [doc for doc in d.state.documents if doc.document_id == c.document_id and not doc.removed]
    if not kept:
        raise RuleBroken("kept_document", f"document_id: {c.document_id!r} is not a document kept on this case")
    d.emit("DocumentRemoved", document_id=c.document_id, filename=kept[0].filename, reason=c.reason)


def _save_assessment_draft(d: Decision, c: SaveAssessmentDraft) -> None:
    s = d.state
    if s.referral.route == "referral" and s.stage != S.assessment:
        raise RuleBroken("assessment_open", f"the assessment is drafted while it is open; the case is in '{s.stage}'")
    children = s.children()
    if strangers := sorted(set(c.sections.child_voice) - set(children)):
        raise RuleBroken(
            "child_of_the_family",
            f"sections.child_voice: {', '.join(strangers)} is not a child of this family ({', '.join(children)})",
        )
    # The sections given, and only those: a save made section by section keeps the others (state.draft_after).
    given = c.sections.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    d.emit("AssessmentDraftSaved", sections=given, merge=True)


def _update_plan(d: Decision, c: UpdatePlan) -> None:
    needs = {n.code for n in d.state.needs}
    if unknown := sorted({a.need_code for a in c.actions} - needs):
        raise RuleBroken("plan_states_family_needs", f"actions: {', '.join(unknown)} is not a need of this case [004]")
    d.emit("PlanUpdated", actions=[a.model_dump(mode="json", exclude_none=True) for a in c.actions])


def _record_supervision(d: Decision, c: RecordSupervision) -> None:
    held = d.at_or_now(c.held_at, None, "the supervision")
    d.emit("SupervisionRecorded", at=held, **c.model_dump(mode="json", exclude={"by", "held_at"}))


def _invite_to_taf(d: Decision, c: InviteToTaf) -> None:
    if c.meeting_at <= d.now:
        raise RuleBroken("meeting_ahead", f"the meeting on {spoken_time(c.meeting_at)} has passed: invite to one ahead")
    d.emit("TafInvited", **c.model_dump(mode="json", exclude={"by"}))


Handler = Callable[["Decision", Any], None]
RECORD_COMMANDS: Mapping[type, tuple[str, Handler, tuple[Stage, ...]]] = MappingProxyType(
    {
        RecordPersonDetails: ("record_person_details", _record_person_details, OPEN),
        AddFamilyMember: ("add_family_member", _add_family_member, OPEN),
        RecordMemberLeft: ("record_member_left", _record_member_left, OPEN),
        RecordRelationship: ("record_relationship", _record_relationship, OPEN),
        RecordDocument: ("record_document", _record_document, OPEN),
        RemoveDocument: ("remove_document", _remove_document, OPEN),
        # Referral route: the assessment stage (checked above); step-down: while its EHA is open [004].
        SaveAssessmentDraft: (
            "save_assessment_draft",
            _save_assessment_draft,
            (S.assessment, S.awaiting_allocation, S.taf_pending, S.plan_active),
        ),
        UpdatePlan: ("update_plan", _update_plan, (S.plan_active, S.masp)),
        RecordSupervision: ("record_supervision", _record_supervision, OPEN),
        # The first TAF meeting, and the reviews (TAF review meetings) while the plan runs [003].
        InviteToTaf: ("invite_to_taf", _invite_to_taf, (S.taf_pending, S.plan_active, S.masp)),
    }
)
