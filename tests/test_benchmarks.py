"""The benchmarks keep working: a smoke run with tiny sizes (figures are never asserted)."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import run, table


@pytest.fixture(autouse=True)
def profiles_kept_apart(tmp_path, monkeypatch):
    """A smoke run's profiles go to the test's own folder, not benchmarks/results/profiles."""
    import benchmarks.profile

    monkeypatch.setattr(benchmarks.profile, "PROFILES", tmp_path / "profiles")


async def test_benchmark_smoke_run_measures_every_measure():
    results = await run("smoke")
    assert set(results) >= {"lifecycle", "read_model", "replay", "scale", "machine", "delivery"}
    assert results["delivery"]["messages"] > 0 and results["delivery"]["failed"] == 0, results["delivery"]
    assert results["lifecycle"]["engine"]["commands"] == results["lifecycle"]["baseline"]["commands"] > 0
    assert results["replay"]["failures"] == 0 and results["replay"]["histories"] > 0
    assert results["read_model"]["events_appended"] > 0 and results["scale"]["open_cases"] == 20, results["scale"]
    for side in ("engine", "baseline"):  # what each side asked of the server, from the server's own counts
        asked = results["lifecycle"][side]["server_requests_per_command"]
        assert asked["service_requests:UpdateWorkflowExecution"] > 0, asked
        assert asked["persistence_requests:UpdateWorkflowExecution"] > 0, asked
    # delivery on: the stand-in's CPU is measured (a figure, never asserted: a smoke run's may round to 0.0)
    assert "notify_standin" in results["lifecycle"]["engine"]["cpu_ms_per_command"]
    rendered = table(results)
    assert "| Lifecycle throughput" in rendered and "| Replay" in rendered and "| Delivery" in rendered
    assert "| CPU a command" in rendered and "Notify stand-in" in rendered


async def test_read_model_scale_smoke_run_times_every_query_and_the_report():
    """The read model at size (issue #17), smoke-sized: cases made by the pathway, saved by the store."""
    from benchmarks.read_model_scale import queries
    from benchmarks.read_model_scale import run as read_model_run

    results = await read_model_run(cases=40, runs=3)
    assert results["generated"]["cases"] == 40 and results["generated"]["events"] > 40 * 5
    assert set(results["queries"]) == set(queries()) and results["report_year_ms"] > 0
    assert "Index" in results["plans"]["search: person ref"] or "Seq Scan" in results["plans"]["search: person ref"]
    assert all(results["plans"].values()) and results["plans"]["report: a year"].count("Execution Time") == 6


async def test_open_cases_smoke_run_holds_cases_waiting_and_samples_the_workers_memory():
    """Open cases held for real (issue #17), smoke-sized: each case saved and left on its timers."""
    from benchmarks.open_cases import run as open_cases

    results = await open_cases(cases=30, concurrency=4)
    assert results["cases"] == 30 and results["rss_samples"] and results["worker_rss_mb_max"] > 0
    assert results["server_disk_kb_per_case"] >= 0 and results["starts_per_s"] > 0


@pytest.mark.parametrize(
    "now",
    [
        "2026-12-07T09:00:00+00:00",
        "2026-12-05T00:05:00+00:00",
        "2026-12-25T12:00:00+00:00",
        "2026-03-29T00:30:00+00:00",
    ],
    ids=["a Monday", "a Saturday", "Christmas Day", "the Sunday the clocks go forward"],
)
def test_the_storms_deadline_falls_due_then_on_a_working_day_or_at_the_last_one_before(now: str):
    """A deadline in working days falls only on a working day: on any other day the storm's falls at the last
    working day's same time, already past (every case escalated as it is referred), so CI passes on any day."""
    from datetime import datetime, timedelta

    from benchmarks.timer_storm import falls_due, received_for
    from workflows.bank_holidays import LATEST
    from workflows.calendar import LONDON, add_working_days, is_working_day

    due = datetime.fromisoformat(now)
    deadline = falls_due(due)
    assert deadline <= due and due - deadline < timedelta(days=5)
    assert is_working_day(deadline.astimezone(LONDON).date(), LATEST)
    assert (deadline == due) == is_working_day(due.astimezone(LONDON).date(), LATEST)
    assert add_working_days(received_for(deadline), 1, LATEST) == deadline


async def test_timer_storm_smoke_run_writes_every_escalation_beside_the_baseline():
    """The timer storm (issue #17), smoke-sized: every case's deadline in the same minute, each escalated."""
    from benchmarks.timer_storm import run as storm

    results = await storm(cases=10)
    assert results["engine"]["escalations_written"] == 10 and results["engine"]["seconds"] is not None
    assert results["baseline"]["seconds"] is not None and results["worker_cache"] > 0


async def test_cold_cases_smoke_run_times_a_command_on_evicted_and_cached_cases():
    """Cold cases (issue #17), smoke-sized: both workers restarted, so the first command replays the history."""
    from benchmarks.cold_cases import run as cold

    results = await cold(cases=2, events=3)
    assert results["engine_history_events"] > 30 and results["baseline_history_events"] > 30
    assert all(results[f"{w}_{t}_p50_ms"] > 0 for w in ("engine", "baseline") for t in ("cold", "hot"))


async def test_web_load_smoke_run_has_staff_on_every_page_without_errors():
    """The web app under load (issue #17), smoke-sized: locust's managers and practitioners signed in, on
    the inbox, case lists, case pages, chronologies and a case note."""
    from benchmarks.web_load import run as web_load

    results = await web_load(cases=30, users=4, seconds=8, real_cases=6)
    assert results["failures"] == 0, results["failed"]
    assert {"GET /inbox", "GET /cases/ID", "POST /sign-in (post)"} <= set(results["pages"]), results["pages"]
    assert results["cases_in_read_model"] >= 36 and not results["locust_errors"]


async def test_scale_out_smoke_run_kills_a_worker_and_loses_nothing():
    """Two workers, one killed under load (issue #27), smoke-sized: every case ends, every event is saved once,
    no message goes to Notify twice; the handover is measured, never asserted. Then two web apps share one
    person's session and record each of their commands once."""
    from benchmarks.scale_out import run as scale_out

    results = await scale_out(cases=12)
    assert results["cases_ended"] == 12 and results["failures"] == [], results["failures"]
    assert results["cases_with_events_missing_or_twice"] == 0
    assert results["messages_sent"] == results["messages_written"] > 0 and results["messages_sent_twice"] == 0
    assert results["handover_ms"] >= 0 and results["before_kill"]["commands"] > 0
    # Two web apps: a session through both, each note once (a form sent again through the other app too), and
    # sign-out through one ends it on both.
    webs = results["two_web_apps"]
    assert webs["signed_in_through_one"] and webs["signed_out_on_both"]
    assert webs["pages_and_commands_answered_200"] == webs["requests"], webs
    assert webs["notes_recorded"] == webs["notes_sent"] and webs["notes_sent_again_through_the_other_app"] >= 3


async def test_case_year_counts_what_a_case_asks_of_the_server_in_every_run():
    """A case through its reviews (docs/sizing.md's case-year), smoke-sized: every command sent is an update in
    its histories, and the deadlines of the weeks between fired."""
    from benchmarks.case_year import run as case_year

    results = await case_year(review_cycles=1)
    assert results["updates"] == results["commands"] >= 20, results
    assert results["timers_fired"] > 0 and results["runs"] >= 1 and results["workflow_tasks"] > results["runs"]
