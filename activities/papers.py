"""The Early Help Assessment and the family plan as documents: every version, for print and PDF.

A version is made from the case's events on request (never kept): the assessment each time it is recorded
(with the draft's sections as they stood and the partner agencies' parts), and the plan each time it is agreed
at the Team Around the Family meeting, updated, or reviewed. The plan folds its events with the case's own rule
(`workflows.state.plan_after`), so the printed plan is the plan the case holds. Erasing the case's key leaves
nothing of them to read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from activities.effects import PLAIN_LETTERHEAD, Letterhead, family_record
from workflows.calendar import LONDON
from workflows.models import AssessmentSections, Event, PlanAction
from workflows.state import draft_after, plan_after

PAPERS = {"assessment": "Early Help Assessment", "plan": "Family plan"}
PLAN_CHANGES = {"TafHeld": "agreed at the Team Around the Family meeting", "PlanUpdated": "updated"}
PLAN_CHANGES |= {"ReviewHeld": "reviewed"}
# How an action is going, in the family's words (the red, amber and green of practitioners' plans).
RAG_WORDS = {"red": "not going well yet", "amber": "some progress", "green": "going well"}
PROGRESS_WORDS = {"met": "met", "partly_met": "partly met", "not_met": "not met yet"}


@dataclass
class Version:
    kind: str  # assessment or plan
    seq: int  # the event it was made by: the version's number in links
    at: datetime
    by: str
    how: str  # how it came about, in words
    data: dict[str, Any] = field(default_factory=dict)  # the event's data
    sections: dict[str, Any] = field(default_factory=dict)  # an assessment's draft sections as they stood
    contributions: list[dict[str, Any]] = field(default_factory=list)  # partner agencies' parts (agency, summary)
    plan: list[PlanAction] = field(default_factory=list)
    next_review: str = ""
    names: dict[str, str] = field(default_factory=dict)  # person_ref -> a name, where the record has one
    from_cin_plan: str = ""  # a step-down's: what the Child in Need plan still asks, carried into the plan [004]

    @property
    def title(self) -> str:
        return PAPERS[self.kind]


def versions(events: list[Event]) -> dict[str, list[Version]]:
    """Every version of the assessment and of the plan, oldest first."""
    found: dict[str, list[Version]] = {"assessment": [], "plan": []}
    referred: dict[str, Any] = {}
    draft: AssessmentSections | None = None
    contributions: list[dict[str, Any]] = []
    plan: list[PlanAction] = []
    next_review = ""
    for e in events:
        if e.type == "CaseReferred":
            referred = dict(e.data)
        family_record(referred, e)
        # (An erased case's events keep only their facts: a draft or a plan without its words is passed over.)
        if e.type == "AssessmentDraftSaved" and "sections" in e.data:
            draft = draft_after(draft, e)
        elif e.type == "AgencyContributionAdded":
            contributions.append({"agency": e.data.get("agency", ""), "summary": e.data.get("summary", ""), "at": e.at})
        elif e.type == "AssessmentRecorded":
            sections = draft.model_dump(mode="json") if draft else {}
            version = Version("assessment", e.seq, e.at, e.by, "recorded", e.data, sections, list(contributions))
            found["assessment"].append(version)
        elif e.type in PLAN_CHANGES and ("actions" in e.data or e.type == "ReviewHeld"):
            plan = plan_after(plan, e)
            next_review = e.data.get("review_date") or e.data.get("next_review_date") or next_review
            found["plan"].append(
                Version("plan", e.seq, e.at, e.by, PLAN_CHANGES[e.type], e.data, plan=plan, next_review=next_review)
            )
    names = _names(referred)
    cin = (referred.get("step_down") or {}).get("cin_plan_summary") or ""
    for version in found["assessment"] + found["plan"]:
        version.names, version.from_cin_plan = names, cin
    return found


def _names(referred: dict[str, Any]) -> dict[str, str]:
    names = {}
    for person in referred.get("people") or []:
        details = person.get("details") or {}
        name = " ".join(n for n in (details.get("given_name"), details.get("family_name")) if n)
        names[person.get("person_ref", "")] = name or person.get("person_ref", "")
    return names


def _day(value: str | date | None) -> str:
    if not value:
        return "no date"
    return (date.fromisoformat(value) if isinstance(value, str) else value).strftime("%-d %B %Y")


def _words(code: object) -> str:
    return str(code).replace("_", " ")


def _bullets(items: list[str]) -> list[str]:
    return [f"  - {i}" for i in items] or ["  (none recorded)"]


def text(case_id: str, v: Version, letterhead: Letterhead = PLAIN_LETTERHEAD) -> str:
    """The version as a document's text (lines kept): the print view and the PDF show it as it is. Who wrote it
    is named as a family reads them (the roles file's [staff] table), never by a staff id."""
    when = v.at.astimezone(LONDON).strftime("%-d %B %Y at %H:%M")
    who, team, _ = letterhead.practitioner(v.by)
    return f"{v.title} for case {case_id}\n{v.how.capitalize()} by {who} ({team}) on {when}.\n\n" + body(v)


def body(v: Version) -> str:
    """What the version says, without its heading (the case page gives its own)."""
    return "\n".join(_assessment(v) if v.kind == "assessment" else _plan(v)) + "\n"


def _assessment(v: Version) -> list[str]:
    d, s = v.data, v.sections
    lines = []
    for ref, words in (s.get("child_voice") or {}).items():
        lines += [f"What {v.names.get(ref, ref)} told us:", f"  {words}", ""]
    if s.get("parents_view"):
        lines += ["What the parents and carers told us:", f"  {s['parents_view']}", ""]
    lines += ["Strengths:", *_bullets(s.get("strengths") or []), ""]
    lines += ["What we are worried about:", *_bullets(d.get("worries") or []), ""]
    lines += ["What is working well:", *_bullets(d.get("working_well") or []), ""]
    lines += ["What needs to happen:", *_bullets(d.get("needs_to_happen") or []), ""]
    lines += [
        f"Scaling: {d.get('scaling')} out of 10 (10: everyone agrees the children are safe and well enough for "
        "early help to end; 0: things are as worrying as they could be).",
        "",
        "The family's needs:",
    ]
    analysis = s.get("analysis") or {}
    for need in d.get("needs") or []:
        lines.append(
            f"  - {_words(need['code']).capitalize()}" + (f": {need['description']}" if need.get("description") else "")
        )
        if analysis.get(need["code"]):
            lines.append(f"    What we make of it: {analysis[need['code']]}")
    for c in v.contributions:
        lines += ["", f"From {c['agency']}:", f"  {c['summary']}"]
    sources = d.get("sources") or s.get("sources") or []
    lines += ["", "What this assessment is based on: " + (", ".join(sources) if sources else "not recorded") + "."]
    return lines


def _plan(v: Version) -> list[str]:
    lines = ["Carried from the Child in Need plan:", f"  {v.from_cin_plan}", ""] if v.from_cin_plan else []
    if v.data.get("attendees"):
        lines += ["Who was there: " + ", ".join(v.data["attendees"]) + ".", ""]
    if v.data.get("apologies"):
        lines += ["Sent apologies: " + ", ".join(v.data["apologies"]) + ".", ""]
    if v.data.get("minutes"):
        lines += ["What the meeting discussed and agreed:", f"  {v.data['minutes']}", ""]
    if v.data.get("narrative"):
        lines += ["What the review found:", f"  {v.data['narrative']}", ""]
    progress = v.data.get("progress") or []
    if progress:
        lines += ["How each need is going:"]
        lines += [
            f"  - {_words(p['need_code']).capitalize()}: {PROGRESS_WORDS.get(p['status'], p['status'])}"
            for p in progress
        ]
        lines.append("")
    for need in dict.fromkeys(a.need_code for a in v.plan):
        lines.append(f"{_words(need).capitalize()}")
        for a in (a for a in v.plan if a.need_code == need):
            state = "done" if a.closed else RAG_WORDS.get(a.rag or "", "not rated yet")
            lines.append(f"  - {a.action}")
            if a.better_when:
                lines.append(f"    What will be better: {a.better_when}")
            lines.append(f"    Who: {a.owner}. By: {_day(a.due)}. How it is going: {state}.")
        lines.append("")
    lines.append(f"Next review: {_day(v.next_review)}." if v.next_review else "No review date set.")
    return lines
