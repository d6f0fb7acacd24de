"""What a saved domain event sets going outside the engine (pure: no I/O).

Reminders and escalations [DOMAIN 4], feedback to referrers and social
workers [004], the letter left at each unannounced visit [003], the closure
form for the EHA co-ordinator [000] and the referral to MASH on step-up
[000][004]. Texts name the case by its id only: no family names, addresses
or dates of birth.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from activities.plain_words import without_sources
from workflows.calendar import LONDON
from workflows.models import Event

# Each stage in the words practitioners use (pages, letters, the chronology); the codes stay in JSON.
STAGE_NAMES = {
    "screening": "screening",
    "awaiting_allocation": "waiting for a lead practitioner",
    "initial_contact": "first contact",
    "warm_handover": "warm handover",
    "unannounced_visits": "unannounced visits",
    "engagement_decision": "manager's decision on engagement",
    "home_visit": "home visit",
    "assessment": "assessment",
    "taf_pending": "Team Around the Family to be held",
    "plan_active": "family plan in place",
    "masp": "with the Multi Agency Support Panel",
    "closure_pending": "closure waiting for a manager",
    "stepped_up": "stepped up to social care",
    "signposted": "signposted",
    "closed": "closed",
    "transferred_to_social_care": "transferred to social care",
}


def stage_name(stage: object) -> str:
    code = getattr(stage, "value", stage)
    return STAGE_NAMES.get(str(code), str(code).replace("_", " "))


DEADLINE_NAMES = {
    "screening_decision": "screening decision",
    "first_contact_attempt": "first contact attempt",
    "warm_handover_answer": "warm handover answer",
    "taf": "initial Team Around the Family meeting",
    "review": "review",
    "closure_decision": "manager's closure decision",
    "allocation": "allocation of a lead practitioner",
    "social_care_decision": "children's social care decision on the step-up",
    "see_children": "visit to see the children",
}


def task_name(kind: str, detail: str | None = None) -> str:
    """A task in words: a deadline's step, an action of the family plan for a need, a service requested."""
    if kind == "plan_action":
        return f"family plan action ({str(detail or '').replace('_', ' ')})"
    if kind == "rfas":
        return f"request for an additional service ({detail})"
    return DEADLINE_NAMES.get(kind, kind.replace("_", " "))


@dataclass(frozen=True)
class Notification:
    kind: str
    recipient: str
    subject: str
    body: str


@dataclass(frozen=True)
class Document:
    kind: str
    text: str


@dataclass(frozen=True)
class MashReferral:
    reason: str


Effect = Notification | Document | MashReferral


def _when(moment: str | datetime) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(LONDON).strftime("%A %-d %B %Y at %H:%M")


@dataclass(frozen=True)
class Letterhead:
    """Who a letter to a family is from: the council (EARLYHELP_COUNCIL_NAME, _ADDRESS, _PHONE) and how its
    practitioners are named (the roles file's [staff] table). A letter never shows a staff id."""

    council: str = ""
    address: tuple[str, ...] = ()
    phone: str = ""
    staff: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def practitioner(self, staff_id: str | None) -> tuple[str, str, str]:
        """Their name, team and phone as a family reads them; the council's where the directory has none."""
        entry = self.staff.get(staff_id or "", {})
        team = entry.get("team") or f"the Early Help team{', ' + self.council if self.council else ''}"
        return entry.get("name") or "your Early Help practitioner", team, entry.get("phone") or self.phone


PLAIN_LETTERHEAD = Letterhead()  # (no council configured: letters from "the Early Help team")


def _manager(locality: str) -> str:
    return f"manager:{locality}"


def effects_of(
    case_id: str, event: Event, referred: dict[str, Any], lead: str | None, letterhead: Letterhead = PLAIN_LETTERHEAD
) -> list[Effect]:
    """The effects of one newly saved event. `referred` is the case's CaseReferred data."""
    d = event.data
    locality = referred.get("locality", "unknown")
    referrer = referred.get("referrer", {})
    step_down = referred.get("step_down") or {}
    match event.type:
        case "DeadlineReminded":
            name = DEADLINE_NAMES[d["kind"]]
            return [
                Notification(
                    "reminder",
                    lead or _manager(locality),
                    f"Case {case_id}: {name} due",
                    f"The {name} for case {case_id} is due by {_when(d['due_at'])}.",
                )
            ]
        case "DeadlineMissed" if "completed_at" not in d:
            name = DEADLINE_NAMES[d["kind"]]
            return [
                Notification(
                    "escalation",
                    _manager(locality),
                    f"Case {case_id}: {name} missed",
                    f"The {name} for case {case_id} was due by {_when(d['due_at'])} and has not "
                    f"happened. Lead practitioner: {lead or 'not allocated'}.",
                )
            ]
        case "ScreeningRecorded":
            outcome = {
                "accept": "accepted for an Early Help Assessment",
                "signpost": "signposted to " + ", ".join(d["services"]),
                "step_up": "referred to children's social care (DAS/MASH)",
            }[d["decision"]]
            return [
                Notification(
                    "referrer_feedback",
                    referrer.get("contact", "unknown"),
                    f"Your referral {case_id}: {d['decision']}",
                    f"Dear {referrer.get('name', 'referrer')}, the referral {case_id} was {outcome}.",
                )
            ]
        case "UnannouncedVisitRecorded" if d["letter_left"]:
            return [Document("visit_letter", visit_letter(case_id, event, lead, addressee(referred), letterhead))]
        case "ClosureDecided" if d["approve"]:
            effects: list[Effect] = [
                Document("closure_form", closure_form(case_id, event, locality, lead)),
                Notification(
                    "referrer_feedback",
                    referrer.get("contact", "unknown"),
                    f"Case {case_id} closed",
                    f"Dear {referrer.get('name', 'referrer')}, early help for case {case_id} has "
                    f"closed ({d['closure_reason'].replace('_', ' ')}).",
                ),
            ]
            if step_down and d["closure_reason"] in ("unable_to_engage", "consent_withdrawn"):
                # Non-engagement with the plan is fed back to social care [004].
                effects.append(non_engagement(case_id, step_down, d["closure_reason"]))
            return effects
        case "ClosureRequested" if step_down and d["reason"] == "unable_to_engage":
            # ...and at the engagement decision, before the manager decides [004].
            return [non_engagement(case_id, step_down, "unable_to_engage")]
        case "TafInvited":
            return [taf_invitation(case_id, event, invitee, lead, letterhead) for invitee in d["invitees"]]
        case "LeadPractitionerIdentified":
            return [
                Notification(
                    "social_care_feedback",
                    d["social_worker"],
                    f"Case {case_id}: lead practitioner identified",
                    f"The EHA for case {case_id} is open and {d['practitioner']} is the lead "
                    "practitioner: the case can close to the social worker.",
                )
            ]
        case "SteppedUp":
            # Sent at once to the MASH mailbox as well as recorded: a safeguarding referral is never missed.
            return [
                MashReferral(without_sources(d["reason"])),
                Notification(
                    "mash_referral",
                    "mash",
                    f"MASH referral: case {case_id} ({locality})",
                    f"Case {case_id} in {locality} is referred to MASH: {without_sources(d['reason'])}. Lead "
                    f"practitioner: {lead or 'not allocated'}. Read the case in the case system.",
                ),
            ]
        case "SafeguardingConcernRaised" if d.get("malformed"):
            # Acted on all the same (stepped up, or a MASH referral if already stepped up); a manager checks it.
            effects = [
                Notification(
                    "escalation",
                    _manager(locality),
                    f"Case {case_id}: safeguarding concern to check",
                    f"A safeguarding concern on case {case_id} arrived incomplete or malformed. "
                    "The case was referred to MASH; read the concern as received on the case's "
                    "timeline and complete it.",
                )
            ]
            if d["stage"] == "stepped_up":
                effects.append(MashReferral("further safeguarding concern while stepped up (malformed: check it)"))
            return effects
        case "SafeguardingConcernRaised" if d["stage"] == "stepped_up":
            return [MashReferral("further safeguarding concern while stepped up")]
    return []


def _answered(function: Any) -> frozenset[str]:
    """The event types a function's `match event.type` has a case for (read from its source, once)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    [match] = [node for node in ast.walk(tree) if isinstance(node, ast.Match)]
    patterns = [p for case in match.cases for p in getattr(case.pattern, "patterns", [case.pattern])]
    return frozenset(
        p.value.value for p in patterns if isinstance(p, ast.MatchValue) and isinstance(p.value, ast.Constant)
    )


# The events `effects_of` may answer something for, from its own cases: a save of none of them skips reading the
# case's context (its referral and family, each opened) for effects it cannot have.
MAY_HAVE_EFFECTS = _answered(effects_of)


def taf_invitation(
    case_id: str, event: Event, invitee: Mapping[str, str], lead: str | None, letterhead: Letterhead
) -> Notification:
    """An invitation to a Team Around the Family meeting: when and where, and who to tell if they cannot come.
    It names the family by the case's reference only (an email can go astray)."""
    practitioner, team, phone = letterhead.practitioner(lead or event.by)
    when = _when(event.data["meeting_at"])
    return Notification(
        "taf_invitation",
        invitee["email"],
        f"Team Around the Family meeting, {when} (our reference {case_id})",
        f"Dear {invitee['name']},\n\nYou are invited to a Team Around the Family meeting for the family we are "
        f"working with (our reference {case_id}) on {when}, at: {event.data['place']}.\n\nThe meeting agrees "
        "the family's plan with them, or reviews how it is going. If you cannot come, please tell "
        f"{practitioner} ({team}){' on ' + phone if phone else ''} and send what you would have said.",
    )


def non_engagement(case_id: str, step_down: dict[str, Any], reason: str) -> Notification:
    what = {
        "unable_to_engage": "has not engaged with early help",
        "consent_withdrawn": "has withdrawn consent to early help",
    }[reason]
    return Notification(
        "social_care_feedback",
        step_down["social_worker"],
        f"Case {case_id}: family did not engage",
        f"The family in case {case_id} {what}.",
    )


def family_record(referred: dict[str, Any], event: Event) -> None:
    """Keep the referral's people as the family record has them since (details recorded, members added)."""
    people = referred.setdefault("people", [])
    if event.type == "FamilyMemberAdded":
        people.append(event.data["member"])
    elif event.type == "PersonDetailsRecorded":
        for person in people:
            if person.get("person_ref") == event.data.get("person_ref"):
                person["details"] = {**(person.get("details") or {}), **(event.data.get("details") or {})}


def addressee(referred: dict[str, Any]) -> tuple[str | None, list[str]]:
    """Who a letter to the family is addressed to, and where: a parent or carer's name and the family's address,
    as far as the family record has them (nothing: the letter is left at the door unaddressed)."""
    people = [p for p in referred.get("people", []) if p.get("lives_in_household", True)]
    adults = [p for p in people if p.get("role", "").casefold() not in ("child", "young person", "young_person")]
    details = [p.get("details") or {} for p in adults + people]
    # A parent or carer by name, never a child; the family's address from whoever it is recorded for.
    named = next((d for d in details[: len(adults)] if d.get("given_name") or d.get("family_name")), {})
    address = next((d["address"] for d in details if d.get("address")), None)
    name = " ".join(n for n in (named.get("given_name"), named.get("family_name")) if n) or None
    return name, [*address.get("lines", []), address.get("postcode", "")] if address else []


def visit_letter(
    case_id: str,
    event: Event,
    lead: str | None,
    to: tuple[str | None, list[str]] = (None, []),
    letterhead: Letterhead = PLAIN_LETTERHEAD,
) -> str:
    """The letter left at an unannounced visit, explaining its purpose [003]: from the council, addressed to the
    family where the family record says who and where they are, naming the practitioner to contact."""
    name, address = to
    practitioner, team, phone = letterhead.practitioner(lead)
    sender = [line for line in (letterhead.council, *letterhead.address) if line]
    heading = [line for line in (name, *address) if line]
    contact = f"{practitioner} ({team})" + (f" on {phone}" if phone else "")
    return (
        ("\n".join(sender) + "\n\n" if sender else "")
        + ("\n".join(heading) + "\n\n" if heading else "")
        + (f"Dear {name},\n\n" if name else "Dear parent or carer,\n\n")
        + f"Early Help - our reference {case_id}\n\n"
        f"We called at your home on {_when(event.at)} but could not speak with you.\n"
        "Someone who works with your family asked us to offer you early help: support, at the "
        "right time, for you and your children, so that small worries do not grow. It is your "
        "choice, and we would like to talk it through with you.\n\n"
        f"Please contact {contact} to arrange a time. "
        f"This is visit {event.data['visit']} of our attempts to reach you.\n\n"
        f"Yours sincerely,\n{practitioner}\n{team}\n"
    )


def closure_form(case_id: str, event: Event, locality: str, lead: str | None) -> str:
    """The closure form sent to the EHA co-ordinator [000], with how each need was met [003]."""
    lines = [
        f"EARLY HELP CLOSURE FORM - case {case_id}",
        f"Locality: {locality}",
        f"Lead practitioner: {lead or 'not allocated'}",
        f"Closure reason: {event.data['closure_reason'].replace('_', ' ')}",
        f"Approved by: {event.by} on {_when(event.at)}",
        f"Manager's reason: {event.data['reason']}",
        "Needs:",
    ]
    lines += [f"  - {o['need_code']}: {o['summary']}" for o in event.data.get("need_outcomes", [])] or [
        "  (none recorded)"
    ]
    lines.append("The family is signposted to the core offer and universal services.")
    return "\n".join(lines) + "\n"
