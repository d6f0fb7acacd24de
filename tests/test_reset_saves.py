"""The case store's rules for runs of one case (activities/store.py), saved as Temporal would call it after
`temporal workflow reset`: the new run's events replace the undone ones, a late save of the run that was
reset away is dropped, and another chain of runs under a used case id is refused. (tests/e2e/test_reset.py
resets real cases through the Temporal CLI.)"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.store import CaseActivities
from starter.local.samples import sample_referral
from workflows import pathway
from workflows.interfaces import CASE_ID_TAKEN
from workflows.models import Allocate, Event, RecordScreening

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def as_run(run: str, asked: datetime) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_run_id=run, scheduled_time=asked)
    return env


def case_with(lead: str, case_id: str) -> list[Event]:
    state, events = pathway.open_case(sample_referral(case_id, T0))
    events += pathway.decide(state, RecordScreening(by="das", decision="accept"), T0 + timedelta(hours=1))
    return events + pathway.decide(state, Allocate(by="das", lead_practitioner=lead), T0 + timedelta(hours=2))


async def saved(pool, case_id: str) -> list[tuple]:
    rows = await pool.fetch("SELECT seq, type, run_id FROM case_events WHERE case_id = $1 ORDER BY seq", case_id)
    return [tuple(r) for r in rows]


async def test_a_reset_runs_events_replace_the_undone_and_a_late_save_of_the_old_run_is_dropped(pool):
    store, case_id = CaseActivities(pool), f"RST{uuid.uuid4().hex[:6]}"
    old, new = case_with("lp-jones", case_id), case_with("lp-smith", case_id)
    screened = next(e.seq for e in old if e.type == "ScreeningRecorded")
    await as_run("r1", T0).run(store.append_events, case_id, old, "r1")
    # The reset run (same chain) takes up after screening and allocates to someone else, with fewer events.
    allocated = next(e.seq for e in new if e.type == "CaseAllocated")
    again = [e for e in new if screened < e.seq <= allocated]
    assert len(old) > allocated  # the old run has undone events beyond what the new one saves
    assert await as_run("r2", T0 + timedelta(days=1)).run(store.append_events, case_id, again, "r1") == len(again)
    rows = await saved(pool, case_id)
    assert rows[-len(again) :] == [(e.seq, e.type, "r2") for e in again] and len(rows) == allocated
    assert await pool.fetchval("SELECT lead_practitioner FROM cases WHERE case_id = $1", case_id) == "lp-smith"
    # The old run's save, asked before the reset, arrives late: nothing of it is kept.
    late = [e for e in old if e.seq > screened]
    assert await as_run("r1", T0 + timedelta(hours=3)).run(store.append_events, case_id, late, "r1") == 0
    assert await saved(pool, case_id) == rows


async def test_another_chain_of_runs_under_a_used_case_id_is_refused(pool):
    store, case_id = CaseActivities(pool), f"RST{uuid.uuid4().hex[:6]}"
    events = case_with("lp-jones", case_id)
    await as_run("r1", T0).run(store.append_events, case_id, events, "r1")
    with pytest.raises(ApplicationError) as refused:
        await as_run("s1", T0 + timedelta(days=1)).run(store.append_events, case_id, events[:1], "s1")
    assert refused.value.type == CASE_ID_TAKEN
    assert (await saved(pool, case_id))[0] == (1, "CaseReferred", "r1")
    # A run reset from the first one (a new run id, the same first run) is the same case: its referral is saved.
    assert await as_run("r2", T0 + timedelta(days=1)).run(store.append_events, case_id, events[:1], "r1") == 1
    assert (await saved(pool, case_id))[0] == (1, "CaseReferred", "r2")
