"""The pathway's pure rules (workflows/rules.py, workflows/calendar.py), tested directly.

Each test is named for its rule and cites the source document (listed in docs/rules.md).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from temporalio.exceptions import ApplicationError

from tests.support import london
from worker.authz import Roles
from workflows import rules
from workflows.bank_holidays import LATEST
from workflows.calendar import add_working_days, is_working_day, time_of_day
from workflows.models import Consent, Need, PlanAction, RecordContactAttempt, RecordUnannouncedVisit
from workflows.policy import Policy
from workflows.rules import RuleBroken

P = Policy()
DAY = date(2026, 3, 10)


def need(code: str, complex: bool = True) -> Need:
    return Need(code=code, complex=complex)


def attempt(at: datetime, outcome: str = "no_answer") -> RecordContactAttempt:
    return RecordContactAttempt(by="lp", at=at, method="phone", outcome=outcome)


def visit(at: datetime, letter: bool = True, outcome: str = "no_answer") -> RecordUnannouncedVisit:
    return RecordUnannouncedVisit(by="lp", at=at, outcome=outcome, letter_left=letter)


class TestThresholdForAnEarlyHelpAssessment:
    """3+ needs, complex, beyond a single agency [000][002]."""

    def test_three_complex_needs_recommend_acceptance(self):
        needs = [need("education"), need("housing"), need("health")]
        assert rules.threshold_recommendation(needs, False, P) == "accept"

    def test_two_or_fewer_unmet_needs_get_a_single_agency_response(self):
        needs = [need("education"), need("housing"), need("health", complex=False)]
        assert rules.threshold_recommendation(needs, False, P) == "signpost"

    def test_the_same_need_twice_counts_once(self):
        needs = [need("education"), need("education"), need("housing")]
        assert rules.threshold_recommendation(needs, False, P) == "signpost"

    def test_immediate_safeguarding_steps_up_whatever_the_needs(self):
        assert rules.threshold_recommendation([], True, P) == "step_up"

    def test_departing_from_the_recommendation_needs_a_reason(self):
        with pytest.raises(RuleBroken, match="threshold_departure_needs_reason"):
            rules.check_screening("accept", None, [], "signpost", Consent(given=True))
        rules.check_screening("accept", "re-referral with escalating needs", [], "signpost", Consent(given=True))

    def test_signposting_names_the_services_and_records_the_decision(self):
        with pytest.raises(RuleBroken, match="signposting_names_services"):
            rules.check_screening("signpost", None, [], "signpost", Consent())


class TestConsent:
    """ "For all Early help consent must be obtained" [004]; safeguarding never waits [000][004]."""

    def test_consent_required_for_early_help(self):
        with pytest.raises(RuleBroken, match="consent_required"):
            rules.check_consent(Consent(given=False), safeguarding=False)

    def test_safeguarding_needs_no_consent(self):
        rules.check_consent(Consent(given=False), safeguarding=True)

    def test_step_down_needs_the_signed_information_sharing_form(self):
        with pytest.raises(RuleBroken, match="step_down_signed_consent_form"):
            rules.check_step_down_consent(Consent(given=True))
        rules.check_step_down_consent(Consent(given=True, form_ref="ISC-1"))


class TestTimeOfDayInLondon:
    """Morning before 12:00, afternoon 12:00-17:00, evening after 17:00, Europe/London [003]."""

    @pytest.mark.parametrize(
        ("hour", "minute", "expected"),
        [
            (8, 0, "morning"),
            (11, 59, "morning"),
            (12, 0, "afternoon"),
            (16, 59, "afternoon"),
            (17, 0, "evening"),
        ],
    )
    def test_boundaries(self, hour, minute, expected):
        assert time_of_day(london(DAY, hour, minute), P) == expected

    def test_british_summer_time_is_local_time(self):
        # 11:30 UTC in July is 12:30 in London: afternoon, not morning.
        assert time_of_day(datetime(2026, 7, 1, 11, 30, tzinfo=timezone.utc), P) == "afternoon"
        assert time_of_day(datetime(2026, 1, 7, 11, 30, tzinfo=timezone.utc), P) == "morning"


class TestWorkingDays:
    """Deadlines in working days skip weekends and England and Wales bank holidays (policy defaults)."""

    def test_weekend_skipped(self):
        friday = london(date(2026, 3, 13), 10)
        assert add_working_days(friday, 1, LATEST) == london(date(2026, 3, 16), 10)

    def test_bank_holidays_skipped(self):
        # Good Friday 3 April and Easter Monday 6 April 2026 are bank holidays in England and Wales.
        assert not is_working_day(date(2026, 4, 3), LATEST) and not is_working_day(date(2026, 4, 6), LATEST)
        thursday = london(date(2026, 4, 2), 9)
        assert add_working_days(thursday, 1, LATEST) == london(date(2026, 4, 7), 9)

    def test_christmas(self):
        assert add_working_days(london(date(2026, 12, 24), 15), 2, LATEST) == london(date(2026, 12, 30), 15)


class TestContactAttempts:
    """At least three attempts, at different times of the day, before a warm handover [003]."""

    def test_three_failed_attempts_at_three_times_of_day(self):
        attempts = [attempt(london(DAY, 9)), attempt(london(DAY, 13)), attempt(london(DAY, 18))]
        assert rules.contact_ladder_exhausted(attempts, P)

    def test_three_attempts_at_two_times_of_day_are_not_enough(self):
        attempts = [attempt(london(DAY, 9)), attempt(london(DAY, 10)), attempt(london(DAY, 18))]
        assert not rules.contact_ladder_exhausted(attempts, P)

    def test_two_attempts_are_not_enough(self):
        assert not rules.contact_ladder_exhausted([attempt(london(DAY, 9)), attempt(london(DAY, 13))], P)


class TestUnannouncedVisits:
    """Three unannounced visits with a letter left each time [003]; a day apart (policy)."""

    def test_a_letter_each_time(self):
        with pytest.raises(RuleBroken, match="letter_left_each_visit"):
            rules.check_unannounced_visit(visit(london(DAY, 10), letter=False), [], P)

    def test_visits_a_day_apart(self):
        first = visit(london(DAY, 10))
        with pytest.raises(RuleBroken, match="visits_apart"):
            rules.check_unannounced_visit(visit(london(DAY, 16)), [first], P)
        rules.check_unannounced_visit(visit(london(DAY + timedelta(days=1), 10)), [first], P)

    def test_three_visits_exhaust_the_ladder(self):
        visits = [visit(london(DAY + timedelta(days=i), 10)) for i in range(3)]
        assert rules.unannounced_visits_exhausted(visits, P)
        assert not rules.unannounced_visits_exhausted(visits[:2], P)


class TestAssessment:
    def test_signs_of_safety_triangulated_from_two_or_more_sources(self):
        """Information 'not obtained from just one source' [003]."""
        with pytest.raises(RuleBroken, match="assessment_triangulated"):
            rules.check_triangulated(["school", "School "])
        rules.check_triangulated(["school", "parent"])

    def test_home_visit_with_agreement_starts_a_genogram(self):
        """The first home visit commences a genogram [003]."""
        with pytest.raises(RuleBroken, match="genogram_started"):
            rules.check_home_visit(agreement_given=True, genogram_started=False)


class TestTafAndReviews:
    def test_taf_within_four_weeks_of_allocation(self):
        """The initial TAF within four weeks of allocation [003]."""
        allocated = london(DAY, 10)
        assert rules.taf_due(allocated, P) == allocated + timedelta(days=28)

    def test_review_dates_no_more_than_twelve_weeks_apart(self):
        """Reviews every twelve weeks [003]."""
        held = london(DAY, 10)
        rules.check_review_date(held, DAY + timedelta(weeks=12), P)
        with pytest.raises(RuleBroken, match="reviews_every_twelve_weeks") as late:
            rules.check_review_date(held, DAY + timedelta(weeks=12, days=1), P)
        with pytest.raises(RuleBroken, match="review_date_after_meeting") as early:
            rules.check_review_date(held, DAY, P)
        # Dates in the words people read them, never ISO (the web app shows these messages)
        latest = DAY + timedelta(weeks=12)
        assert f"(latest {latest:%a} {latest.day} {latest:%b %Y})" in str(late.value)
        assert f"on {DAY:%a} {DAY.day} {DAY:%b %Y}" in str(early.value) and DAY.isoformat() not in str(early.value)

    def test_every_need_in_the_plan_has_an_action(self):
        """The family plan covers every need with actions, owners and timescales [001][003]."""
        needs = [need("education"), need("housing")]
        actions = [PlanAction(need_code="education", action="attendance plan", owner="school", due=DAY)]
        with pytest.raises(RuleBroken, match="every_need_has_an_action.*housing"):
            rules.check_plan_covers_needs(needs, actions)


class TestClosure:
    """Permission to close from a team manager who is not the requester [003]."""

    def test_self_approval_refused(self):
        with pytest.raises(RuleBroken, match="closure_not_self_approved"):
            rules.check_closure_decider("tm-1", "tm-1")
        rules.check_closure_decider("tm-1", "lp-2")

    def test_only_a_manager_decides(self):
        roles = Roles({"tm-1": frozenset({"managers"}), "lp-1": frozenset({"practitioners"})})
        with pytest.raises(ApplicationError, match="not_authorized: decide_closure needs one of"):
            roles.check("decide_closure", "lp-1")
        with pytest.raises(ApplicationError, match="has no role"):
            roles.check("record_screening", "stranger")
        roles.check("decide_closure", "tm-1")


class TestReminders:
    """A reminder 7 days before each deadline (policy default), half-way for shorter ones."""

    def test_seven_days_before(self):
        now = london(DAY, 10)
        assert rules.reminder_time(now, now + timedelta(days=28), P) == now + timedelta(days=21)

    def test_half_way_for_a_short_deadline(self):
        now = london(DAY, 10)
        assert rules.reminder_time(now, now + timedelta(days=2), P) == now + timedelta(days=1)


def test_refusals_say_times_in_london_to_the_minute_and_gaps_in_words():
    from datetime import UTC, datetime, timedelta

    from workflows.calendar import spoken_gap, spoken_time
    from workflows.rules import RuleBroken, check_recorded_time

    now = datetime(2026, 7, 3, 6, 40, 47, 429527, tzinfo=UTC)
    try:
        check_recorded_time(now + timedelta(hours=7, minutes=35), now - timedelta(days=1), now, "the contact attempt")
    except RuleBroken as e:
        assert str(e) == (
            "no_future_records: the contact attempt at Fri 3 Jul 2026, 15:15 is in the future "
            "(it is now Fri 3 Jul 2026, 07:40)"
        )
    else:
        raise AssertionError("not refused")
    assert (spoken_gap(timedelta(seconds=2.88)), spoken_gap(timedelta(days=2, minutes=1))) == (
        "under a minute",
        "2 days, 1 minute",
    )
    assert spoken_time(datetime(2026, 12, 3, 14, 15, 59, tzinfo=UTC)) == "Thu 3 Dec 2026, 14:15"
