"""Every *policy default* of docs/domain.md in one model.

A deployment may override any field, and so may a single referral. The
workflow carries the policy in its state, so a running case keeps the policy
it started with even when the deployment's defaults change later.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from workflows.bounds import SOME, DurationBetween, Id, Name

# Leicester's locality advice points [000].
DEFAULT_LOCALITIES = ("North West", "North", "West", "East", "Central", "South")
# No working-day deadline of the pathway is set further ahead than this.
WORKING_DAYS = 60


CONTINUE_AS_NEW_AFTER = 300
CONTINUE_AS_NEW_AFTER_BEFORE = 2000  # the default that history from before patch `shorter-runs` replays with


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Threshold for an Early Help Assessment: 3+ complex needs [000][002].
    threshold_min_needs: int = Field(3, ge=1, le=10)
    # Screening decision within 1 working day of receipt (policy default).
    screening_working_days: int = Field(1, ge=1, le=WORKING_DAYS)
    # Initial contact [003]: 3 attempts at 3 different times of day.
    contact_attempts_required: int = Field(3, ge=1, le=10)
    distinct_times_of_day_required: int = Field(3, ge=1, le=3)
    # Time-of-day boundaries, Europe/London [DOMAIN 2].
    afternoon_starts: time = time(12, 0)
    evening_starts: time = time(17, 0)
    first_contact_working_days: int = Field(2, ge=1, le=WORKING_DAYS)
    warm_handover_working_days: int = Field(5, ge=1, le=WORKING_DAYS)
    # Three unannounced visits, a letter each time [003]; at least 1 day apart.
    unannounced_visits_required: int = Field(3, ge=1, le=10)
    visit_min_gap_days: int = Field(1, ge=0, le=30)
    # Initial TAF within four weeks of allocation [003]. Durations are ISO 8601
    # in JSON ("P28D"); short ones serve tests that wait in real time.
    taf_within: Annotated[timedelta, DurationBetween(timedelta(seconds=1), timedelta(days=365))] = timedelta(days=28)
    # Reviews every twelve weeks [003].
    review_interval_weeks: int = Field(12, ge=1, le=52)
    # Reminder 7 days before a deadline; escalate on the day (policy default).
    reminder_before: Annotated[timedelta, DurationBetween(timedelta(0), timedelta(days=90))] = timedelta(days=7)
    # A manager answers a closure request within 5 working days (policy default).
    closure_decision_working_days: int = Field(5, ge=1, le=WORKING_DAYS)
    # Allocated within 5 working days of acceptance (policy default) [DOMAIN 9].
    allocation_working_days: int = Field(5, ge=1, le=WORKING_DAYS)
    # Social care decides on a step-up within 1 working day of the MASH referral (policy default, after
    # Working Together's one working day) [DOMAIN 9].
    social_care_decision_working_days: int = Field(1, ge=1, le=WORKING_DAYS)
    # Children not seen at the first home visit are seen within 10 working days (policy default) [001][003].
    see_children_working_days: int = Field(10, ge=1, le=WORKING_DAYS)
    # A referral within 12 months of the family's last closure is a re-referral (policy default) [000][002].
    re_referral_months: int = Field(12, ge=1, le=120)
    # Members of this age or over consent for themselves; parents and carers for younger children [004].
    own_consent_age: int = Field(13, ge=10, le=18)
    localities: list[Name] = Field(default_factory=lambda: list(DEFAULT_LOCALITIES), max_length=SOME)
    # No longer used: who is a manager comes from the roles file (worker/authz.py). Kept, and
    # dropped when written, so that cases started with it still decode (tests/histories).
    managers: list[Id] = Field(max_length=SOME, default_factory=list, exclude=True, deprecated="use the roles file")
    # Engine setting, not a DOMAIN rule: continue-as-new at the first review
    # boundary after a run's history passes this many events (or when
    # Temporal suggests it), so histories stay short and fast to replay.
    # 300: a command on an evicted case costs ~0.55 ms a history event
    # (benchmarks/results/cold-cases-30x40.json: 267 ms at 433 events), and a
    # quarter between reviews adds ~110, so runs stay under ~410 events and
    # cold commands near 250 ms. (It was 2000: see patch `shorter-runs`.)
    continue_as_new_after_events: int = Field(CONTINUE_AS_NEW_AFTER, ge=10, le=10_000)
