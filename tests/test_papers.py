"""The assessment and the family plan as documents (activities/papers.py): a version each time the assessment is
recorded and each time the plan is agreed, updated or reviewed, in words a family reads."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from activities import papers
from activities.effects import Letterhead
from starter.local.samples import sample_referral
from workflows import pathway
from workflows.models import (
    ActionUpdate,
    AddAgencyContribution,
    Allocate,
    Event,
    Need,
    NeedProgress,
    PlanAction,
    RecordAssessment,
    RecordContactAttempt,
    RecordHomeVisit,
    RecordPersonDetails,
    RecordReview,
    RecordScreening,
    RecordTaf,
    SaveAssessmentDraft,
    UpdatePlan,
)

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
DUE = date(2026, 4, 1)


def a_case_with_a_reviewed_plan() -> tuple[list[Event], list[str]]:
    state, events = pathway.open_case(sample_referral("PP1", NOW - timedelta(days=1)))
    child = state.children()[0]
    needs = [n.code for n in state.needs]

    def do(command: object) -> None:
        events.extend(pathway.decide(state, command, NOW))  # type: ignore[arg-type]

    do(RecordScreening(by="das", decision="accept"))
    do(Allocate(by="das", lead_practitioner="lp"))
    do(RecordContactAttempt(by="lp", method="phone", outcome="reached"))
    do(RecordHomeVisit(by="lp", agreement_given=True, genogram_started=True, children_seen=True))
    do(RecordPersonDetails(by="lp", person_ref=child, given_name="Amira", family_name="Okafor"))
    sections = {"child_voice": {child: "I like it when mum walks me"}, "analysis": {needs[0]: "worse in winter"}}
    do(SaveAssessmentDraft.model_validate({"by": "lp", "sections": sections | {"strengths": ["close to gran"]}}))
    do(AddAgencyContribution(by="lp", agency="Calder Primary", summary="attendance 71% this term"))
    do(
        RecordAssessment(
            by="lp",
            worries=["late to school"],
            needs_to_happen=["a morning routine"],
            scaling=4,
            sources=["school", "parent"],
            needs=[Need(code=n) for n in needs],
        )
    )
    first = [
        PlanAction(need_code=n, action=f"support {i}", owner="school", due=DUE, action_id=f"A{i}")
        for i, n in enumerate(needs)
    ]
    taf = RecordTaf(by="lp", held_at=NOW, attendees=["parent", "school"], actions=first, review_date=DUE,
                    apologies=["health visitor"], minutes="Mornings first; school to offer a club place")  # fmt: skip
    do(taf)
    second = PlanAction(need_code=needs[0], action="a breakfast club place", owner="Calder Primary", due=DUE,
                        action_id="B1", better_when="Amira is in class by 9", rag="amber")  # fmt: skip
    do(UpdatePlan(by="lp", actions=[*first, second]))
    do(
        RecordReview(
            by="lp",
            held_at=NOW,
            progress=[NeedProgress(need_code=n, status="partly_met") for n in needs],
            next_review_date=date(2026, 5, 20),
            narrative="Mornings are calmer",
            attendees=["parent"],
            action_updates=[ActionUpdate(action_id="A0", closed=True), ActionUpdate(action_id="B1", rag="green")],
        )
    )
    return events, needs


def test_each_recording_of_the_plan_and_the_assessment_is_a_version():
    events, needs = a_case_with_a_reviewed_plan()
    found = papers.versions(events)
    assert [v.how for v in found["plan"]] == ["agreed at the Team Around the Family meeting", "updated", "reviewed"]
    assert [len(v.plan) for v in found["plan"]] == [len(needs), len(needs) + 1, len(needs) + 1]
    reviewed = {a.action_id: a for a in found["plan"][-1].plan}
    assert reviewed["A0"].closed and reviewed["B1"].rag == "green"  # the review's ratings, by the case's own rule
    assert found["plan"][1].plan[-1].rag == "amber"  # an earlier version keeps what it said then
    [assessment] = found["assessment"]
    assert assessment.contributions[0]["agency"] == "Calder Primary"
    assert assessment.sections["strengths"] == ["close to gran"]


def test_the_plan_reads_in_the_familys_words_with_who_does_what_by_when():
    events, needs = a_case_with_a_reviewed_plan()
    staff = {"lp": {"name": "Jo Jones", "team": "North Early Help team"}}
    text = papers.text("PP1", papers.versions(events)["plan"][-1], Letterhead(staff=staff))
    assert "Family plan for case PP1\nReviewed by Jo Jones (North Early Help team) on 2 March 2026 at 10:00." in text
    assert "What the review found:\n  Mornings are calmer" in text
    assert "  - a breakfast club place\n    What will be better: Amira is in class by 9\n" in text
    assert "Who: Calder Primary. By: 1 April 2026. How it is going: going well." in text
    assert "support 0\n    Who: school. By: 1 April 2026. How it is going: done." in text
    assert "Next review: 20 May 2026." in text
    assert not re.search(r"\d{4}-\d\d-\d\d|_|\b(red|amber|green)\b", text), text  # no ISO dates, codes or RAG


def test_the_plan_agreed_at_the_taf_meeting_says_who_came_who_sent_apologies_and_the_minutes():
    events, _ = a_case_with_a_reviewed_plan()
    text = papers.body(papers.versions(events)["plan"][0])
    assert text.startswith("Who was there: parent, school.\n\nSent apologies: health visitor.\n\n")
    assert "What the meeting discussed and agreed:\n  Mornings first; school to offer a club place" in text


def test_the_assessment_document_has_every_part_and_names_the_child():
    events, needs = a_case_with_a_reviewed_plan()
    text = papers.body(papers.versions(events)["assessment"][0])
    assert "What Amira Okafor told us:\n  I like it when mum walks me" in text  # named as the record has them
    assert "Strengths:\n  - close to gran" in text
    assert "What we are worried about:\n  - late to school" in text
    assert "Scaling: 4 out of 10" in text
    assert f"  - {needs[0].replace('_', ' ').capitalize()}\n    What we make of it: worse in winter" in text
    assert "From Calder Primary:\n  attendance 71% this term" in text
    assert "What this assessment is based on: school, parent." in text
