"""The family record and what practitioners write (third version), through the pathway's rules: each command
records its event and changes the state a case page shows; each refusal names its field and rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError

from starter.local.samples import sample_referral
from workflows import pathway
from workflows.bounds import refusal
from workflows.models import (
    AddAgencyContribution,
    AddCaseNote,
    AddFamilyMember,
    Allocate,
    RecordContactAttempt,
    RecordDocument,
    RecordHomeVisit,
    RecordMemberLeft,
    RecordPersonDetails,
    RecordRelationship,
    RecordScreening,
    RecordSupervision,
    Referral,
    SafeguardingConcern,
    SaveAssessmentDraft,
)
from workflows.person import nhs_number_valid, upn_valid
from workflows.rules import RuleBroken
from workflows.state import CaseState

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


def opened(case_id: str = "FR1") -> CaseState:
    state, _ = pathway.open_case(sample_referral(case_id, NOW - timedelta(days=1)))
    return state


def in_assessment(case_id: str = "FR1") -> CaseState:
    state = opened(case_id)
    for command in (
        RecordScreening(by="das", decision="accept"),
        Allocate(by="das", lead_practitioner="lp"),
        RecordContactAttempt(by="lp", method="phone", outcome="reached"),
        RecordHomeVisit(by="lp", agreement_given=True, genogram_started=True, children_seen=True),
    ):
        pathway.decide(state, command, NOW)
    assert state.stage == "assessment"
    return state


def test_a_members_details_are_recorded_in_any_script_and_only_the_details_given_change():
    state = opened()
    parent = state.referral.family.members[0].person_ref
    first = RecordPersonDetails(
        by="lp", person_ref=parent, given_name="Siobhán", family_name="Ó Briain-Nowak", phone="07700 900123"
    )
    [event] = pathway.decide(state, first, NOW)
    assert event.type == "PersonDetailsRecorded" and event.data["details"]["given_name"] == "Siobhán"
    pathway.decide(state, RecordPersonDetails(by="lp", person_ref=parent, preferred_name="Shiv"), NOW)
    view = next(m for m in state.details().members if m.person_ref == parent)
    assert view.details is not None
    assert (view.details.given_name, view.details.preferred_name, view.details.phone) == (
        "Siobhán",
        "Shiv",
        "07700 900123",
    )
    for name in ("محمد", "D'Arcy", "Llŷr", "Zoë", "Ng"):  # Arabic, an apostrophe, Welsh, a diaeresis, short
        RecordPersonDetails(by="lp", person_ref=parent, given_name=name)
    RecordPersonDetails(by="lp", person_ref=parent, given_name="Madonna")  # a single name: no family name


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("nhs_number", "943 476 5918", "check digit"),
        ("upn", "B123456789012", "check letter"),
        ("address", {"lines": ["1 High Street"], "postcode": "NOT A CODE"}, "UK postcode"),
        ("date_of_birth", "1899-12-31", "from 1900"),
        ("email", "not an address", "email address"),
        ("phone", "12", "phone number"),
        ("ethnicity", "WHITE", "WBRI"),
        ("given_name", "A\x07B", "control characters"),
    ],
)
def test_each_bad_detail_is_refused_naming_its_field(field: str, value: object, said: str):
    with pytest.raises(ValidationError) as e:
        RecordPersonDetails.model_validate({"by": "lp", "person_ref": "P-1", field: value})
    message = refusal(e.value)
    assert field in message and said in message, message


def test_the_checks_accept_real_numbers_and_normalise_them():
    assert nhs_number_valid("9434765919") and not nhs_number_valid("9434765918")
    details = RecordPersonDetails(
        by="lp",
        person_ref="P-1",
        nhs_number="943-476-5919",
        address={"lines": ["1 High Street"], "postcode": "ls14ap"},
        upn=_a_valid_upn(),
    )
    assert details.nhs_number == "943 476 5919"
    assert details.address is not None and details.address.postcode == "LS1 4AP"
    assert upn_valid(details.upn or "")


def _a_valid_upn() -> str:
    letters = "ABCDEFGHJKLMNPQRTUVWXYZ"
    rest = "80120010001"  # LA 801, establishment 2001, year 00, serial 01 (plus the last below)
    body = rest + "2"
    return letters[sum(int(c) * w for c, w in zip(body, range(2, 14), strict=True)) % 23] + body


def test_a_date_of_birth_after_today_is_refused_and_an_expected_date_must_be_soon():
    state = opened()
    parent = state.referral.family.members[0].person_ref
    with pytest.raises(RuleBroken) as e:
        pathway.decide(state, RecordPersonDetails(by="lp", person_ref=parent, date_of_birth=date(2026, 6, 1)), NOW)
    assert e.value.rule == "born_in_the_past" and "date_of_birth" in str(e.value)
    unborn = {"person_ref": "P-UNBORN", "role": "child", "details": {"expected_date": "2028-01-01"}}
    with pytest.raises(RuleBroken) as e:
        pathway.decide(state, AddFamilyMember.model_validate({"by": "lp", "member": unborn}), NOW)
    assert e.value.rule == "expected_within_months"


def test_consent_follows_members_who_join_and_leave():
    state = opened()
    state.practice = 2
    assert state.consent_missing(2026) == []  # the sample referral's family consented
    joined = AddFamilyMember.model_validate(
        {"by": "lp", "person_ref": "P-NEW", "role": "step-parent", "details": {"given_name": "Sam"}}
    )  # (a member's fields beside `by` are read as the member)
    pathway.decide(state, joined, NOW)
    assert "P-NEW" in state.consent_missing(2026)  # their own consent is needed now
    pathway.decide(state, RecordMemberLeft(by="lp", person_ref="P-NEW", reason="moved out"), NOW)
    assert "P-NEW" not in state.consent_missing(2026)
    view = next(m for m in state.details().members if m.person_ref == "P-NEW")
    assert not view.lives_in_household and view.details is not None and view.details.given_name == "Sam"
    with pytest.raises(RuleBroken) as e:
        pathway.decide(state, RecordMemberLeft(by="lp", person_ref="P-NEW", reason="again"), NOW)
    assert e.value.rule == "in_the_household"


def test_relationships_and_documents_are_kept_between_and_on_members_of_the_family():
    state = opened()
    parent, child = (m.person_ref for m in state.referral.family.members[:2])
    pathway.decide(state, RecordRelationship(by="lp", from_ref=parent, to_ref=child, kind="parent"), NOW)
    with pytest.raises(RuleBroken) as e:
        pathway.decide(state, RecordRelationship(by="lp", from_ref=parent, to_ref="P-NOBODY", kind="parent"), NOW)
    assert e.value.rule == "member_of_the_family" and "P-NOBODY" in str(e.value)
    doc = RecordDocument(
        by="lp", document_id="DOC-1", kind="consent_form", sha256="ab" * 32, filename="consent signed.pdf"
    )
    pathway.decide(state, doc, NOW)
    with pytest.raises(RuleBroken):
        pathway.decide(state, doc, NOW)
    details = state.details()
    assert [(r.from_ref, r.kind, r.to_ref) for r in details.relationships] == [(parent, "parent", child)]
    assert [(d.document_id, d.kind) for d in details.documents] == [("DOC-1", "consent_form")]
    with pytest.raises(ValidationError):
        RecordDocument(by="lp", document_id="D2", kind="x", sha256="not hex", filename="../etc/passwd")
    with pytest.raises(ValidationError) as bad:
        Referral.model_validate(
            sample_referral("FR2", NOW).model_dump(mode="json")
            | {"family": {"family_ref": "F", "relationships": [{"from_ref": "A", "to_ref": "B", "kind": "parent"}]}}
        )
    assert "relationships.0" in refusal(bad.value)


def test_the_assessment_is_drafted_while_open_and_agencies_add_their_part_on_either_route():
    state = opened("FR3")
    with pytest.raises(RuleBroken) as e:
        pathway.decide(state, AddAgencyContribution(by="lp", agency="school", summary="attendance 71%"), NOW)
    assert e.value.rule == "assessment_open"
    state = in_assessment("FR4")
    child = state.children()[0]
    draft = SaveAssessmentDraft.model_validate(
        {
            "by": "lp",
            "sections": {
                "child_voice": {child: "I like school when my friends are there"},
                "parents_view": "we need help with mornings",
                "analysis": {state.needs[0].code: "attendance falls when mum works nights"},
            },
        }
    )
    pathway.decide(state, draft, NOW)
    pathway.decide(state, AddAgencyContribution(by="lp", agency="school", summary="attendance 71%"), NOW)
    saved = state.details().assessment_draft
    assert saved is not None and saved.child_voice == {child: "I like school when my friends are there"}
    # Section by section: a later save changes what it gives and keeps the rest (it used to wipe the rest).
    later = SaveAssessmentDraft.model_validate({"by": "lp", "sections": {"strengths": ["gran helps"],
                                               "analysis": {state.needs[1].code: "rent arrears since May"}}})  # fmt: skip
    [event] = pathway.decide(state, later, NOW)
    assert event.data == {"sections": {"strengths": ["gran helps"], "analysis": {state.needs[1].code: "rent arrears since May"}}, "merge": True}  # fmt: skip
    merged = state.details().assessment_draft
    assert merged is not None and merged.parents_view == "we need help with mornings"
    assert merged.child_voice == {child: "I like school when my friends are there"} and merged.strengths == [
        "gran helps"
    ]
    assert merged.analysis == {state.needs[0].code: "attendance falls when mum works nights",
                               state.needs[1].code: "rent arrears since May"}  # fmt: skip
    stranger = draft.model_copy(update={"sections": draft.sections.model_copy(update={"child_voice": {"X": "hi"}})})
    with pytest.raises(RuleBroken) as e:
        pathway.decide(state, stranger, NOW)
    assert e.value.rule == "child_of_the_family"


def test_notes_decisions_supervision_and_concerns_carry_what_practitioners_write():
    state = opened("FR5")
    [note] = pathway.decide(state, AddCaseNote(by="lp", text="rang school", kind="phone"), NOW)
    assert note.data["kind"] == "phone"
    [plain] = pathway.decide(state, AddCaseNote(by="lp", text="no kind"), NOW)
    assert "kind" not in plain.data  # a command as recorded before the field existed makes the same event
    [supervised] = pathway.decide(
        state, RecordSupervision(by="tm", held_at=NOW, reflection="drift since TAF", decisions=["escalate"]), NOW
    )
    assert supervised.type == "SupervisionRecorded" and state.details().supervisions == [NOW]
    concern = SafeguardingConcern(
        by="lp", details="bruise seen", person_refs=[state.children()[0]], category="physical", police_informed=True
    )
    raised = pathway.raise_safeguarding(state, concern, NOW)
    assert raised[0].data["category"] == "physical" and raised[0].data["police_informed"] is True


async def test_the_family_record_through_the_workflow_as_a_client_sends_it(env, task_queue, pool):
    """The updates by their contract names with plain JSON, as a third-party client sends them; the `details`
    query shows the family as recorded; the events are saved."""
    from tests.support import Case, end
    from workflows.case import EarlyHelpCase

    case = await Case.start(env, task_queue)
    parent, child = (m.person_ref for m in case.referral.family.members[:2])

    async def do(name: str, **command: object) -> dict:
        return await case.handle.execute_update(name, {"by": "lp-jones", **command}, result_type=dict)

    await do("record_person_details", person_ref=parent, given_name="Aleksandra", family_name="Kowalska",
             address={"lines": ["2 Mill Lane"], "postcode": "m1 1ae"}, nhs_number="9434765919")  # fmt: skip
    await do("add_family_member", member={"person_ref": "P-BABY", "role": "child",
             "details": {"expected_date": (await case.now()).date().isoformat()}})  # fmt: skip
    await do("record_relationship", from_ref=parent, to_ref=child, kind="parent")
    await do("record_member_left", person_ref="P-BABY", reason="placed with grandparents")
    await do("record_document", document_id="DOC-7", kind="school_report", sha256="c" * 64, filename="report.pdf")
    details = await case.handle.query(EarlyHelpCase.details)
    mother = next(m for m in details.members if m.person_ref == parent)
    assert mother.details.family_name == "Kowalska" and mother.details.address.postcode == "M1 1AE"
    assert [m.person_ref for m in details.members if not m.lives_in_household] == ["P-BABY"]
    assert [r.kind for r in details.relationships] == ["parent"] and details.documents[0].kind == "school_report"
    # Removed (kept in error): the document is marked removed, never twice, and one not kept cannot be; its file
    # goes as the removal is saved, whichever door sent it (here a client's plain update).
    await case.wait_saved(pool)
    await pool.execute(
        "INSERT INTO case_files (case_id, document_id, content_type, size, sealed) VALUES ($1, 'DOC-7', 'x', 1, 'x')",
        case.case_id,
    )
    await do("remove_document", document_id="DOC-7", reason="another family's report, kept in error")
    assert (await case.handle.query(EarlyHelpCase.details)).documents[0].removed
    for unknown in ("DOC-7", "DOC-8"):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await do("remove_document", document_id=unknown, reason="again")
        assert refused.value.cause.message.startswith("kept_document: document_id")
    saved = await case.wait_saved(pool)
    assert {"PersonDetailsRecorded", "FamilyMemberAdded", "RelationshipRecorded", "DocumentRecorded"} <= {
        row["type"] for row in saved
    }
    assert "DocumentRemoved" in {row["type"] for row in saved}
    assert await pool.fetchval("SELECT count(*) FROM case_files WHERE case_id = $1", case.case_id) == 0
    await end(case.handle)


def test_the_letter_left_at_a_visit_is_addressed_to_the_family_as_recorded_since_the_referral():
    """A parent's name and the family's address, recorded after the referral, head the letter (a child's name
    never does); with nothing recorded the letter is left unaddressed, as before."""
    from activities.effects import addressee, family_record, visit_letter
    from workflows.models import Event

    referred = {"people": [{"person_ref": "P1", "role": "child", "details": {"given_name": "Tom"}},
                           {"person_ref": "P2", "role": "parent"}]}  # fmt: skip
    visit = Event(seq=9, type="UnannouncedVisitRecorded", at=NOW, by="lp", data={"visit": 2, "letter_left": True})
    assert visit_letter("C1", visit, "lp", addressee(referred)).startswith("Dear parent or carer,")
    recorded = {
        "person_ref": "P2",
        "details": {"given_name": "Zoë", "family_name": "Ní Bhriain", "address": {"lines": ["2 Mill Lane"], "postcode": "M1 1AE"}},
    }  # fmt: skip
    family_record(referred, Event(seq=5, type="PersonDetailsRecorded", at=NOW, by="lp", data=recorded))
    letter = visit_letter("C1", visit, "lp", addressee(referred))
    assert letter.startswith("Zoë Ní Bhriain\n2 Mill Lane\nM1 1AE\n\nDear Zoë Ní Bhriain,\n")
    assert "Tom" not in letter


def test_the_letter_is_from_the_council_and_names_the_practitioner_as_a_family_reads_them():
    """The council's name and address head the letter and the practitioner is named with their team and phone
    (the roles file's [staff] table); without a directory entry, never a staff id: the council's phone."""
    from activities.effects import Letterhead, visit_letter
    from workflows.models import Event

    visit = Event(seq=9, type="UnannouncedVisitRecorded", at=NOW, by="lp-jones", data={"visit": 1, "letter_left": True})
    staff = {"lp-jones": {"name": "Jo Jones", "team": "North Early Help team", "phone": "0113 496 0000"}}
    head = Letterhead("Calderbrook Council", ("Town Hall", "Calderbrook CB1 1AA"), "0113 222 4444", staff)
    letter = visit_letter("C1", visit, "lp-jones", ("Zoë Ní Bhriain", ["2 Mill Lane", "M1 1AE"]), head)
    assert letter.startswith("Calderbrook Council\nTown Hall\nCalderbrook CB1 1AA\n\nZoë Ní Bhriain\n2 Mill Lane\n")
    assert "Please contact Jo Jones (North Early Help team) on 0113 496 0000 to arrange a time." in letter
    assert letter.endswith("Yours sincerely,\nJo Jones\nNorth Early Help team\n")
    unknown = visit_letter("C1", visit, "lp-new", (None, []), head)
    assert "lp-new" not in unknown
    assert (
        "Please contact your Early Help practitioner (the Early Help team, Calderbrook Council) on 0113 222 4444"
        in unknown
    )


def test_a_taf_meeting_ahead_is_arranged_and_each_invitee_is_emailed_by_the_case_reference_only():
    """invite_to_taf while the TAF is to be held (and for reviews while the plan runs): a meeting that has passed
    is refused by its field's rule; each invitee's email says when and where, and who to tell if they cannot come."""
    from activities.effects import Letterhead, Notification, effects_of
    from workflows.models import Invitee, InviteToTaf

    state = in_assessment("FR9")
    invite = InviteToTaf(
        by="lp", meeting_at=NOW + timedelta(days=3), place="Calder Primary", invitees=[Invitee(name="Ms Ade", email="a@school.uk")]
    )  # fmt: skip
    with pytest.raises(RuleBroken) as e:
        pathway.decide(state, invite, NOW)
    assert e.value.rule == "wrong_stage"
    state.stage = pathway.S.taf_pending
    with pytest.raises(RuleBroken) as e:
        pathway.decide(state, invite.model_copy(update={"meeting_at": NOW - timedelta(minutes=1)}), NOW)
    assert e.value.rule == "meeting_ahead" and "Mon 2 Mar 2026, 09:59 has passed" in str(e.value)
    [event] = pathway.decide(state, invite, NOW)
    staff = {"lp": {"name": "Jo Jones", "team": "North Early Help team", "phone": "0113 496 0000"}}
    referred = {"people": [{"person_ref": "P1", "details": {"given_name": "Tom", "family_name": "Okafor"}}]}
    [sent] = effects_of("FR9", event, referred, "lp", Letterhead("Calderbrook Council", staff=staff))
    assert isinstance(sent, Notification) and (sent.kind, sent.recipient) == ("taf_invitation", "a@school.uk")
    assert sent.subject == "Team Around the Family meeting, Thursday 5 March 2026 at 10:00 (our reference FR9)"
    assert "Dear Ms Ade," in sent.body and "at: Calder Primary." in sent.body
    assert "please tell Jo Jones (North Early Help team) on 0113 496 0000" in sent.body
    assert "Okafor" not in sent.body + sent.subject


def test_a_draft_saved_before_saves_merged_stood_for_the_whole_draft_and_replays_so():
    """An AssessmentDraftSaved recorded before section-by-section saves (no `merge`) replaced the draft: replayed
    today, it still does, so a running case's draft is what it was (workflows/state.draft_after)."""
    from workflows.models import AssessmentSections, Event
    from workflows.state import draft_after

    before = AssessmentSections(parents_view="mornings", strengths=["gran"])
    old = Event(seq=9, type="AssessmentDraftSaved", at=NOW, by="lp", data={"sections": {"strengths": ["school"]}})
    assert draft_after(before, old) == AssessmentSections(strengths=["school"])
    new = Event(seq=9, type="AssessmentDraftSaved", at=NOW, by="lp", data={"sections": {"strengths": ["school"]}, "merge": True})  # fmt: skip
    assert draft_after(before, new) == AssessmentSections(parents_view="mornings", strengths=["school"])
