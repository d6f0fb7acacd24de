"""A case's chronology in plain English, for people: the case page, its print view, and the CSV and PDF
exports a court or a subject access request asks for.

Each event becomes one entry: when (London time), who, what happened in words, and whether it is a
significant event (a decision, a safeguarding concern, a missed deadline, a significant case note). What
is said comes from the events alone; personal text (a note, a concern, an assessment) is shown to the
person who may see the case and never leaves the page or the export they asked for.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activities.effects import DEADLINE_NAMES, stage_name
from activities.plain_words import without_sources
from activities.spreadsheet import safe_row
from workflows.calendar import LONDON, spoken_time
from workflows.models import Event

SYSTEM = "system"


@dataclass(frozen=True)
class Entry:
    seq: int
    at: datetime
    who: str
    what: str
    significant: bool
    kind: str = ""  # the event's type

    @property
    def when(self) -> str:
        return self.at.astimezone(LONDON).strftime("%a %-d %b %Y, %H:%M")


def _words(value: Any) -> str:
    return str(value).replace("_", " ")


def _event_words(event_type: str) -> str:
    """An event with nothing more to say, in words: "HomeVisitRecorded" is "recorded: home visit"."""
    words = re.sub(r"(?<!^)([A-Z])", r" \1", event_type).lower()
    for ending in (" recorded", " raised", " held", " added"):
        if words.endswith(ending):
            return f"{ending.strip()}: {words.removesuffix(ending)}"
    return words


def _deadline(d: dict[str, Any]) -> str:
    return DEADLINE_NAMES.get(d.get("kind", ""), _words(d.get("kind", "")))


def _day(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(LONDON).strftime("%-d %b %Y")


def _moment(value: str | None) -> str:
    return spoken_time(datetime.fromisoformat(value)) if value else ""


def _list(items: list[Any]) -> str:
    items = [_words(i) for i in items]
    return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else (items[0] if items else "none")


def _count(n: int, thing: str) -> str:
    return f"no {thing}s" if n == 0 else f"1 {thing}" if n == 1 else f"{n} {thing}s"


def _screening(d: dict[str, Any]) -> str:
    outcome = {
        "accept": "accepted the referral for an Early Help Assessment",
        "signpost": "signposted the family to " + _list(d.get("services") or []),
        "step_up": "referred the case to children's social care",
    }[d["decision"]]
    return f"screened the referral and {outcome}" + (f": {d['reason']}" if d.get("reason") else "")


def _closure_decided(d: dict[str, Any]) -> str:
    verdict = "approved" if d["approve"] else "refused"
    return f"{verdict} the closure ({_words(d.get('closure_reason', ''))}): {d.get('reason', '')}"


def _assessment(d: dict[str, Any]) -> str:
    parts = [f"recorded the assessment, scaling {d.get('scaling')}/10"]
    if d.get("worries"):
        parts.append("worries: " + "; ".join(d["worries"]))
    if d.get("working_well"):
        parts.append("working well: " + "; ".join(d["working_well"]))
    if d.get("needs_to_happen"):
        parts.append("needs to happen: " + "; ".join(d["needs_to_happen"]))
    return ". ".join(parts)


# Each event type: what happened, from its data (the person who did it is said before it).
SAYS: dict[str, Callable[[dict[str, Any]], str]] = {
    "CaseReferred": lambda d: (
        f"referred the family ({d.get('family_ref', '')}) to Early Help in {d.get('locality')}"
        + (" as a step-down from social care" if d.get("route") == "step_down" else "")
        + f"; {len(d.get('people') or [])} family members; threshold recommendation "
        f"{_words(d.get('recommendation', ''))}"
    ),
    "ScreeningRecorded": _screening,
    "CaseAllocated": lambda d: (
        ("reallocated the case to " if d.get("reallocation") else "allocated the case to ")
        + d["lead_practitioner"]
        + (f": {d['reason']}" if d.get("reason") else "")
    ),
    "ContactAttemptRecorded": lambda d: (
        f"recorded a {_words(d['method'])} contact attempt: {_words(d['outcome'])}, "
        f"{d.get('time_of_day', '')} (attempt {d.get('attempt')})"
    ),
    "WarmHandoverRecorded": lambda d: f"recorded the referrer's warm handover: {_words(d['outcome'])}",
    "UnannouncedVisitRecorded": lambda d: (
        f"made unannounced visit {d.get('visit')}: {_words(d['outcome'])}"
        + (", and left a letter" if d.get("letter_left") else "")
    ),
    "HomeVisitRecorded": lambda d: (
        "made the first home visit: "
        + ("the family agreed to early help" if d.get("agreement_given") else "the family did not agree")
        + ("; genogram started" if d.get("genogram_started") else "")
        + ("; the children were seen" if d.get("children_seen") else "; the children were not seen yet")
    ),
    "ChildSeen": lambda d: f"saw {d.get('person_ref')}",
    "AssessmentRecorded": _assessment,
    "TafHeld": lambda d: (
        f"held the Team Around the Family meeting{' (virtual)' if d.get('virtual') else ''} with "
        f"{_list(d.get('attendees') or [])}"
        + (f" (apologies from {_list(d['apologies'])})" if d.get("apologies") else "")
        + f"; {len(d.get('actions') or [])} actions; review by {_day(d.get('review_date'))}"
        + (f". Minutes: {d['minutes']}" if d.get("minutes") else "")
    ),
    "ReviewHeld": lambda d: (
        "held a review: "
        + "; ".join(f"{_words(p['need_code'])} {_words(p['status'])}" for p in d.get("progress") or [])
        + f"; next review by {_day(d.get('next_review_date'))}"
    ),
    "ClosureRequested": lambda d: f"asked a manager to close the case ({_words(d['reason'])})",
    "ClosureDecided": _closure_decided,
    "ApprovalCancelled": lambda d: f"the closure request was withdrawn: {d.get('reason', '')}",
    "ContactLadderRestarted": lambda d: f"restarted the contact attempts: {d.get('reason', '')}",
    "MaspReferred": lambda d: "referred the case to MASP: " + _list(d.get("criteria") or []),
    "MaspOutcomeRecorded": lambda d: (
        f"recorded the MASP outcome: {_words(d['outcome'])}" + (f" ({d['notes']})" if d.get("notes") else "")
    ),
    "SteppedUp": lambda d: f"the case was stepped up to children's social care: {d.get('reason', '')}",
    "SocialCareDecisionRecorded": lambda d: (
        "recorded children's social care's decision: "
        + ("accepted" if d.get("accepted") else "not accepted, back to early help")
    ),
    "SafeguardingConcernRaised": lambda d: "raised a safeguarding concern: " + str(d.get("details") or "(malformed)"),
    "ConsentRecorded": lambda d: (
        f"recorded {d.get('person_ref', 'the family')}'s consent: " + ("given" if d.get("consent", True) else "refused")
    ),
    "ConsentWithdrawn": lambda d: (
        f"recorded that {d.get('person_ref', 'the family')} withdrew consent: {d.get('reason', '')}"
    ),
    "LeadPractitionerIdentified": lambda d: (
        f"identified {d['practitioner']} as lead practitioner"
        + (", chosen by the family" if d.get("chosen_by_family") else "")
    ),
    "LeadDeclined": lambda d: f"recorded that {d['practitioner']} declined to lead: {d.get('reason', '')}",
    "AgencyContributionAdded": lambda d: f"added {d['agency']}'s contribution: {d.get('summary', '')}",
    "AdditionalServiceRequested": lambda d: f"requested {_words(d['service'])}: {d.get('reason', '')}",
    "LocalityTransferred": lambda d: f"transferred the case from {d['from']} to {d['to']}: {d.get('reason', '')}",
    "CaseNoteAdded": lambda d: (
        "added a case note" + (f" ({_words(d['kind'])})" if d.get("kind") else "") + ": " + str(d.get("text", ""))
    ),
    "PersonDetailsRecorded": lambda d: (
        f"recorded {d.get('person_ref', 'a member')}'s details: " + _list([_words(k) for k in d.get("details") or {}])
    ),
    "FamilyMemberAdded": lambda d: (
        f"added {(d.get('member') or {}).get('person_ref', 'a member')} "
        f"({(d.get('member') or {}).get('role', '')}) to the family"
    ),
    "FamilyMemberLeft": lambda d: f"recorded that {d.get('person_ref')} left the household: {d.get('reason', '')}",
    "RelationshipRecorded": lambda d: (
        f"recorded that {d.get('from_ref')} is a {_words(d.get('kind', ''))} of {d.get('to_ref')}"
    ),
    "DocumentRecorded": lambda d: f"kept a document on the case: {d.get('filename')} ({_words(d.get('kind', ''))})",
    "DocumentRemoved": lambda d: f"removed the document {d.get('filename')} from the case: {d.get('reason')}",
    "AssessmentDraftSaved": lambda d: "saved the assessment as a draft",
    "PlanUpdated": lambda d: f"updated the family plan: {len(d.get('actions') or [])} actions",
    "SupervisionRecorded": lambda d: "recorded supervision: " + str(d.get("reflection", "")),
    "TafInvited": lambda d: (
        f"invited {_list([i.get('name', '') for i in d.get('invitees') or []])} to a Team Around the Family "
        f"meeting on {_moment(d.get('meeting_at'))} at {d.get('place', '')}"
    ),
    "StageChanged": lambda d: f"the case moved to {stage_name(d['to'])}",
    "DeadlineSet": lambda d: f"the {_deadline(d)} is due by {_day(d.get('due_at'))}",
    "DeadlineMet": lambda d: f"the {_deadline(d)} was done on time",
    "DeadlineCompletedLate": lambda d: f"the {_deadline(d)} was done late",
    "DeadlineMissed": lambda d: (
        f"the {_deadline(d)} was missed" + (" and the manager told" if d.get("escalated_to") else "")
    ),
    "DeadlineReminded": lambda d: f"the lead practitioner was reminded that the {_deadline(d)} is due",
    "DeadlineCancelled": lambda d: (
        f"the {_deadline(d)} no longer applies" + (f" ({d['reason']})" if d.get("reason") else "")
    ),
    "CaseEnded": lambda d: f"the case ended: {_words(d['final_stage'])} ({_words(d['reason'])})",
    "PracticeVersionSet": lambda d: "the case follows the updated practice guidance",
    "PreviousCasesFound": lambda d: (
        f"found {_count(len(d.get('cases') or []), 'earlier case')} of the family"
        + (": a re-referral" if d.get("re_referral") else "")
    ),
}
SIGNIFICANT = frozenset(
    {
        "CaseReferred",
        "ScreeningRecorded",
        "CaseAllocated",
        "HomeVisitRecorded",
        "AssessmentRecorded",
        "TafHeld",
        "ReviewHeld",
        "ClosureDecided",
        "SteppedUp",
        "SocialCareDecisionRecorded",
        "SafeguardingConcernRaised",
        "ConsentWithdrawn",
        "MaspReferred",
        "MaspOutcomeRecorded",
        "LocalityTransferred",
        "DeadlineMissed",
        "CaseEnded",
    }
)


HAPPENED = frozenset(
    {
        "StageChanged",
        "DeadlineSet",
        "DeadlineMet",
        "DeadlineCompletedLate",
        "DeadlineMissed",
        "DeadlineReminded",
        "DeadlineCancelled",
        "CaseEnded",
        "SteppedUp",
        "ApprovalCancelled",
        "PracticeVersionSet",
        "PreviousCasesFound",
    }
)


def entry(event: Event) -> Entry:
    says = SAYS.get(event.type)
    try:
        what = says(event.data) if says else _event_words(event.type)
    except (KeyError, TypeError, ValueError):  # an event of an older shape: said by its name, never an error
        what = _event_words(event.type)
    significant = event.type in SIGNIFICANT or bool(event.type == "CaseNoteAdded" and event.data.get("significant"))
    who = "The service" if event.by == SYSTEM else event.by
    if event.type == "CaseReferred" and event.data.get("keyed_by"):  # keyed in by a screener, from its source
        who, what = (
            event.data["keyed_by"],
            what.replace("referred the family", f"keyed in {event.by}'s referral of the family", 1),
        )
    what = without_sources(what)
    # What happened to the case (said on its own) rather than what someone did (said after who).
    sentence = what[0].upper() + what[1:] if event.type in HAPPENED else f"{who} {what}"
    return Entry(
        event.seq,
        event.at,
        who,
        sentence.rstrip(": ") + ("" if sentence.endswith(".") else "."),
        significant,
        event.type,
    )


# The engine's own bookkeeping of deadlines: on the case page only when asked for (a missed deadline, which
# the manager is told of, always shows); the printed and exported chronology keep every line.
BOOKKEEPING = frozenset(
    {"DeadlineSet", "DeadlineMet", "DeadlineReminded", "DeadlineCancelled", "DeadlineCompletedLate"}
)


def chronology(events: list[Event], significant_only: bool = False, bookkeeping: bool = True) -> list[Entry]:
    entries = [entry(e) for e in events if bookkeeping or e.type not in BOOKKEEPING]
    return [e for e in entries if e.significant] if significant_only else entries


def as_csv(case_id: str, entries: list[Entry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["case", "number", "when (London)", "who", "what", "significant"])
    for e in entries:
        writer.writerow(
            safe_row(
                [
                    case_id,
                    e.seq,
                    e.at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M"),
                    e.who,
                    e.what,
                    "yes" if e.significant else "",
                ]
            )
        )
    return out.getvalue()
