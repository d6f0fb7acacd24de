"""The pathway's rules as pure functions: no Temporal, no I/O.

Each `check_*` raises `RuleBroken` with a message naming the rule, what was
seen and the source document (`[000]`..`[004]`: the councils' documents, listed by title in
docs/rules.md). The
workflow's validators and its handlers call these same functions, so every
rule has one definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from workflows.bank_holidays import Edition
from workflows.calendar import (
    add_working_days,
    end_of_day,
    local_date,
    spoken_date,
    spoken_gap,
    spoken_time,
    time_of_day,
)
from workflows.models import (
    Consent,
    Need,
    NeedCode,
    PlanAction,
    RecordContactAttempt,
    RecordUnannouncedVisit,
    ScreeningDecision,
)
from workflows.policy import Policy


class RuleBroken(ValueError):
    """A command breaks a pathway rule; nothing is recorded."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


def complex_need_codes(needs: Iterable[Need]) -> set[NeedCode]:
    return {n.code for n in needs if n.complex}


def threshold_recommendation(needs: Sequence[Need], immediate_safeguarding: bool, policy: Policy) -> ScreeningDecision:
    """EHA threshold [000][002]: 3+ needs, complex, beyond a single agency.

    Immediate safeguarding goes straight to DAS/MASH [000][004]; two or fewer
    complex needs get a single agency response (signposting) [000].
    """
    if immediate_safeguarding:
        return "step_up"
    return "accept" if len(complex_need_codes(needs)) >= policy.threshold_min_needs else "signpost"


def check_screening(
    decision: ScreeningDecision,
    reason: str | None,
    services: Sequence[str],
    recommendation: ScreeningDecision,
    consent: Consent,
) -> None:
    if decision != recommendation and not (reason and reason.strip()):
        raise RuleBroken(
            "threshold_departure_needs_reason",
            f"the threshold recommends {recommendation!r} but the decision is {decision!r}; "
            "a departure from the recommendation must give a reason [000][002]",
        )
    if decision == "signpost" and not services:
        raise RuleBroken(
            "signposting_names_services",
            "a below-threshold decision signposts to named services (e.g. Family Support, "
            "Health Visiting, Targeted Youth Support) and records the decision-making; none given [000]",
        )
    if decision == "accept":
        check_consent(consent, safeguarding=False)


def check_consent(consent: Consent, safeguarding: bool) -> None:
    """ "For all Early help consent must be obtained" [004]; safeguarding never waits for it."""
    if safeguarding:
        return
    if not consent.given:
        raise RuleBroken(
            "consent_required",
            "the family's consent is not recorded (consent.given is false); "
            "early help needs consent unless it is safeguarding [004]",
        )


def check_step_down_consent(consent: Consent) -> None:
    """Step-down: the social worker obtains the signed information sharing consent form [004]."""
    check_consent(consent, safeguarding=False)
    if not consent.form_ref:
        raise RuleBroken(
            "step_down_signed_consent_form",
            "a step-down needs the signed 'Early Help Information Sharing Consent Form'; "
            "consent.form_ref is empty [004]",
        )


def check_referral(route: str, consent: Consent) -> None:
    """What the doors check before a case starts (web, API, CLI): a step-down comes with the signed consent form's
    reference [004], refused at referral rather than at the first command after it."""
    if route == "step_down":
        check_step_down_consent(consent)


def check_recorded_time(at: datetime, not_before: datetime, now: datetime, what: str) -> None:
    if at > now + timedelta(minutes=5):
        raise RuleBroken(
            "no_future_records", f"{what} at {spoken_time(at)} is in the future (it is now {spoken_time(now)})"
        )
    if at < not_before:
        raise RuleBroken(
            "no_records_before_start",
            f"{what} at {spoken_time(at)} is before {spoken_time(not_before)}, when this step began",
        )


def contact_ladder_exhausted(attempts: Sequence[RecordContactAttempt], policy: Policy) -> bool:
    """At least three failed attempts at different times of the day [003].

    Only then is the referrer asked for a warm handover.
    """
    failed = [a for a in attempts if a.outcome == "no_answer" and a.at is not None]
    times = {time_of_day(a.at, policy) for a in failed if a.at is not None}
    return len(failed) >= policy.contact_attempts_required and len(times) >= policy.distinct_times_of_day_required


def check_unannounced_visit(
    visit: RecordUnannouncedVisit, previous: Sequence[RecordUnannouncedVisit], policy: Policy
) -> None:
    """Three unannounced visits, with a letter left each time [003]; a day apart (policy)."""
    if visit.outcome == "no_answer" and not visit.letter_left:
        raise RuleBroken(
            "letter_left_each_visit",
            "an unannounced visit with no answer must leave a letter explaining its purpose; "
            "letter_left is false [003]",
        )
    if previous and visit.at is not None and previous[-1].at is not None:
        gap = visit.at - previous[-1].at
        if gap < timedelta(days=policy.visit_min_gap_days):
            raise RuleBroken(
                "visits_apart",
                f"unannounced visits must be at least {policy.visit_min_gap_days} day(s) apart; "
                f"this one is {spoken_gap(gap)} after the last",
            )


def unannounced_visits_exhausted(visits: Sequence[RecordUnannouncedVisit], policy: Policy) -> bool:
    return sum(1 for v in visits if v.outcome == "no_answer") >= policy.unannounced_visits_required


def check_home_visit(agreement_given: bool, genogram_started: bool) -> None:
    """First home visit: obtain agreement and commence a genogram [003]."""
    if agreement_given and not genogram_started:
        raise RuleBroken(
            "genogram_started",
            "the first home visit with agreement must commence a genogram; genogram_started is false [003]",
        )


def check_triangulated(sources: Sequence[str]) -> None:
    """Signs of Safety assessment triangulated: not from just one source [003]."""
    distinct = {s.strip().casefold() for s in sources if s.strip()}
    if len(distinct) < 2:
        raise RuleBroken(
            "assessment_triangulated",
            f"an assessment needs information from two or more distinct sources; saw {len(distinct)} "
            f"({', '.join(sorted(distinct)) or 'none'}) [003]",
        )


def taf_due(allocated_at: datetime, policy: Policy) -> datetime:
    """The initial TAF is held within four weeks of allocation [003]."""
    return allocated_at + policy.taf_within


def check_review_date(held_at: datetime, review_date: date, policy: Policy) -> None:
    """Reviews every twelve weeks [003] ("every 3 months" [000]): never further apart."""
    held_on = local_date(held_at)
    latest = held_on + timedelta(weeks=policy.review_interval_weeks)
    if review_date <= held_on:
        raise RuleBroken(
            "review_date_after_meeting",
            f"review date {spoken_date(review_date)} is not after the meeting on {spoken_date(held_on)}",
        )
    if review_date > latest:
        raise RuleBroken(
            "reviews_every_twelve_weeks",
            f"review date {spoken_date(review_date)} is more than {policy.review_interval_weeks} weeks after "
            f"{spoken_date(held_on)} (latest {spoken_date(latest)}) [003]",
        )


def check_plan_covers_needs(needs: Sequence[Need], actions: Sequence[PlanAction]) -> None:
    """The family plan has, for each need, actions, owners and timescales [001] step 7, [003]."""
    missing = sorted({n.code for n in needs} - {a.need_code for a in actions})
    if missing:
        raise RuleBroken(
            "every_need_has_an_action",
            f"the plan has no action for need(s) {', '.join(missing)} [001][003]",
        )


def check_covers_every_need(needs: Sequence[Need], covered: Iterable[NeedCode], rule: str, what: str) -> None:
    missing = sorted({n.code for n in needs} - set(covered))
    if missing:
        raise RuleBroken(rule, f"{what} says nothing of need(s) {', '.join(missing)} [000][003]")


def check_closure_decider(by: str, requested_by: str) -> None:
    """The manager who approves is not the person who asked [003].

    That the decider is a manager is a matter of roles: worker/authz.py.
    """
    if by == requested_by:
        raise RuleBroken(
            "closure_not_self_approved",
            f"{by!r} requested this closure and cannot approve it; another manager must decide [003]",
        )


def check_masp_criteria(criteria: Sequence[str], previous_referrals: int) -> None:
    """MASP for no improvement, escalation, high cost, re-referrals, risk of accommodation [000]."""
    if "re_referrals" in criteria and previous_referrals < 1:
        raise RuleBroken(
            "masp_re_referrals_history",
            "criterion 're_referrals' needs a history of re-referrals; this family has none recorded [000]",
        )


def reminder_time(set_at: datetime, due_at: datetime, policy: Policy) -> datetime | None:
    """A reminder `reminder_before` the deadline, or half-way for short deadlines."""
    if due_at <= set_at:
        return None
    return max(due_at - policy.reminder_before, set_at + (due_at - set_at) / 2)


def review_due(review_date: date) -> datetime:
    """A review agreed for a date is on time if held by the end of that day."""
    return end_of_day(review_date)


# --- practice version 2 (docs/domain.md section 9) -----------------------------------


def check_everyones_consent(missing: Sequence[str], what: str) -> None:
    """Assessment, TAF and information sharing need the consent of every parent or carer and every member
    aged 13 or over; after a withdrawal nothing that shares or gathers information is accepted [004]."""
    if missing:
        raise RuleBroken(
            "consent_required",
            f"{what} needs consent, and it is missing for {', '.join(missing)}: record it first "
            "(safeguarding, closure and recording consent stay open) [004]",
        )


def taf_due_end_of_day(allocated_at: datetime, policy: Policy) -> datetime:
    """Within four weeks of allocation [003], by the end of that day in London (as reviews are)."""
    if policy.taf_within % timedelta(days=1):
        return allocated_at + policy.taf_within  # (a short test policy: to the second)
    return end_of_day(local_date(allocated_at) + policy.taf_within)


def check_review_after_taf(held_at: datetime, taf_held_at: datetime | None) -> None:
    if taf_held_at is not None and held_at < taf_held_at:
        raise RuleBroken(
            "review_after_taf",
            f"a review held at {spoken_time(held_at)} is before the TAF it reviews ({spoken_time(taf_held_at)}) [003]",
        )


def check_needs_shown_met(needs: Sequence[Need], latest_review: Sequence[Any], outcomes: Sequence[Any]) -> None:
    """Closing as needs met needs every need shown met: by the latest review's progress, or by the closure's
    summary for that need, which must then say `met` [003]."""
    reviewed = {p.need_code for p in latest_review if p.status == "met"}
    summarised = {o.need_code for o in outcomes if getattr(o, "status", None) == "met"}
    unmet = sorted({n.code for n in needs} - reviewed - summarised)
    if unmet:
        raise RuleBroken(
            "needs_met_shows_every_need_met",
            f"closing as needs_met needs every need shown met; not shown for {', '.join(unmet)} (the latest "
            "review's progress, or status 'met' in the closure's summary): close as needs_not_met or review "
            "first [003]",
        )


def check_reallocation_reason(reason: str | None) -> None:
    if not (reason and reason.strip()):
        raise RuleBroken(
            "reallocation_needs_reason",
            "reallocating a case needs a reason (absence, caseload, the family's request...) [DOMAIN 9]",
        )


def check_preferred_lead(preferred: str | None, named: str, declined: Sequence[str]) -> None:
    """The family's preferred lead is asked first; another is named only once they declined [004]."""
    if preferred and named != preferred and preferred not in declined:
        raise RuleBroken(
            "preferred_lead_first",
            f"the family's preferred lead {preferred!r} has not declined; record their decline "
            "(record_lead_declined) before naming another [004]",
        )


def check_re_referral_history(criteria: Sequence[str], previous_cases: int) -> None:
    """MASP for re-referrals [000]: the engine's own record of earlier cases, never a typed number."""
    if "re_referrals" in criteria and previous_cases < 1:
        raise RuleBroken(
            "masp_re_referrals_history",
            "criterion 're_referrals' needs earlier cases of this family; the engine found none [000]",
        )


def deadline_on_return(kind: str, now: datetime, policy: Policy, holidays: Edition) -> datetime:
    """A deadline paused by a step-up, set again from the day the case returns [DOMAIN 9]."""
    days = {
        "screening_decision": policy.screening_working_days,
        "allocation": policy.allocation_working_days,
        "first_contact_attempt": policy.first_contact_working_days,
        "warm_handover_answer": policy.warm_handover_working_days,
        "see_children": policy.see_children_working_days,
    }
    if kind in days:
        return add_working_days(now, days[kind], holidays)
    if kind == "taf":
        return taf_due_end_of_day(now, policy)
    return review_due(local_date(now) + timedelta(weeks=policy.review_interval_weeks))
