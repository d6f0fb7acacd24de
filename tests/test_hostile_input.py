"""Nothing a client sends wedges a case or is lost (docs/contract.md "Trust at the boundary").

Driven as a third-party client would: string names and plain JSON. A bad
referral fails its workflow at once, naming each bad field; a bad command is
refused naming its field, with the history unchanged; a malformed
safeguarding concern is still acted on; a case id is never used twice.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError

from activities.store import CaseActivities, impossible
from starter.local.samples import sample_referral
from tests.support import LEAD, MANAGER, SCREENER, Case, end, eventually, new_case_id
from worker.sandbox import workflow_runner
from workflows.case import RETRY_IMPOSSIBLE_SAVE, SAVE_GIVES_UP, EarlyHelpCase
from workflows.interfaces import SAVE_IMPOSSIBLE
from workflows.models import AddCaseNote, Consent, Event, RecordConsent, TransferLocality, WithdrawConsent
from workflows.pathway import STEPS

HUGE = "x" * 3_000_000
# Under the server's 2 MB a payload, over every bound of ours (a larger start the server itself refuses).
LARGE = "x" * 1_500_000


def referral_json(now, **changes: Any) -> dict[str, Any]:
    data = sample_referral(new_case_id(), now).model_dump(mode="json")
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = data
        for p in parents:
            target = target.setdefault(p, {}) if not p.isdigit() else target[int(p)]
        if value is ...:
            target.pop(leaf)
        else:
            target[leaf] = value
    return data


async def failure(env, handle: Any) -> Any:
    """The error a run failed with (waited for without skipping time: the test server would jump ten years)."""
    with env.auto_time_skipping_disabled(), pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    return failed.value.cause


async def start_raw(env, task_queue, referral: dict[str, Any]) -> Any:
    return await env.client.start_workflow(
        "EarlyHelpCase",
        referral,
        id=f"case-{referral['case_id']}",
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )


BAD_REFERRALS = {
    "unknown locality": ({"locality": "Atlantis"}, "locality"),
    "missing received_at": ({"received_at": ...}, "received_at"),
    "received in 9999": ({"received_at": "9999-12-31T00:00:00Z"}, "received_at"),
    "received without a zone": ({"received_at": "2026-01-01T09:00:00"}, "received_at"),
    "screening in 1e9 working days": ({"policy": {"screening_working_days": 1e9}}, "policy.screening_working_days"),
    "taf in P999999999D": ({"policy": {"taf_within": "P999999999D"}}, "policy.taf_within"),
    "a locality added by the referral": (
        {"policy": {"localities": ["Atlantis"]}, "locality": "Atlantis"},
        "policy.localities",
    ),
    "NUL in a name": ({"referrer__name": "A\u0000B"}, "referrer.name"),
    "1.5 MB description": ({"needs__0__description": LARGE}, "needs.0.description"),
    "10**12 previous referrals": ({"previous_referrals": 10**12}, "previous_referrals"),
    "a full name as a person ref": ({"family__members__0__person_ref": "Jo Jones"}, "family.members.0.person_ref"),
    "wrong type": ({"family": "the Joneses"}, "family"),
    "an extra field": ({"surname": "Jones"}, "surname"),
}


@pytest.mark.parametrize("changes,field", BAD_REFERRALS.values(), ids=BAD_REFERRALS.keys())
async def test_a_bad_referral_fails_at_once_naming_the_field(env, task_queue, pool, changes, field):
    referral = referral_json(await env.get_current_time(), **changes)
    cause = await failure(env, await start_raw(env, task_queue, referral))
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidReferral", cause
    assert field in cause.message and cause.non_retryable
    assert "\u0000" not in cause.message and len(cause.message) < 2_000  # names the rule, never echoes the value
    assert await pool.fetchval("SELECT count(*) FROM case_events WHERE case_id = $1", referral["case_id"]) == 0


async def test_a_referral_received_in_the_future_is_refused(env, task_queue):
    now = await env.get_current_time()
    referral = referral_json(now, received_at=(now + timedelta(hours=1)).isoformat())
    cause = await failure(env, await start_raw(env, task_queue, referral))
    assert "received_at" in cause.message and "no_future_records" in cause.message


async def test_a_case_id_is_never_started_twice_even_after_the_case_ended(env, task_queue, pool):
    case = await Case.start(env, task_queue, needs=[])
    await case.handle.execute_update(
        "record_screening", {"by": SCREENER, "decision": "signpost", "services": ["Family Support"]}, result_type=dict
    )
    assert (await case.handle.result()).final_stage == "signposted"
    again = sample_referral(case.case_id, await env.get_current_time()).model_dump(mode="json")
    second = await env.client.start_workflow(
        "EarlyHelpCase",
        again,
        id=case.handle.id,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    assert (await failure(env, second)).type == "CaseIdTaken"
    types = [
        r["type"]
        for r in await pool.fetch("SELECT type FROM case_events WHERE case_id = $1 ORDER BY seq", case.case_id)
    ]
    assert types[-1] == "CaseEnded" and types.count("CaseReferred") == 1  # the first case is untouched


async def test_a_referral_under_another_cases_workflow_id_is_refused_at_once(env, task_queue, pool):
    """A workflow named case-A carrying case B's referral would squat B's id under A's key: it fails at once
    (InvalidReferral, naming case_id), saving nothing for either case."""
    named, carried = new_case_id(), new_case_id()
    referral = sample_referral(carried, await env.get_current_time()).model_dump(mode="json")
    started = await env.client.start_workflow("EarlyHelpCase", referral, id=f"case-{named}", task_queue=task_queue)
    cause = await failure(env, started)
    assert cause.type == "InvalidReferral" and f"case-{carried}" in cause.message
    saved = await pool.fetchval("SELECT count(*) FROM case_events WHERE case_id = any($1)", [named, carried])
    assert saved == 0


def hostile_variants(command: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    """Each way a client can get a command wrong, with the field its refusal must name."""
    text = next((k for k, v in command.items() if isinstance(v, str) and k != "by"), None)
    variants = {
        "NUL in by": ({**command, "by": "lp\u0000jones"}, "by"),
        "a full name as by": ({**command, "by": "Jo Jones"}, "by"),
        "by missing": ({k: v for k, v in command.items() if k != "by"}, "by"),
        "3 MB by": ({**command, "by": HUGE}, "by"),
        "an extra field": ({**command, "surname": "Jones"}, "surname"),
        "not an object": (["by", LEAD], "(the whole input)"),
    }
    if text:
        variants[f"NUL in {text}"] = ({**command, text: "a\u0000b"}, text)
        variants[f"3 MB {text}"] = ({**command, text: HUGE}, text)
        variants[f"number as {text}"] = ({**command, text: 12}, text)
    return variants


async def test_every_hostile_command_is_refused_by_field_and_changes_nothing(env, task_queue):
    """Every update, NUL, 3 MB, wrong types, a forged shape: refused naming the field, never a task failure."""
    from tests.test_validation import every_command

    case = await Case.start(env, task_queue)
    commands = every_command(await case.now())
    commands[EarlyHelpCase.withdraw_consent] = WithdrawConsent(by=LEAD, reason="the family asked")
    commands[EarlyHelpCase.record_consent] = RecordConsent(by=LEAD, consent=Consent(given=True, recorded_by=LEAD))
    commands[EarlyHelpCase.transfer_locality] = TransferLocality(by=MANAGER, locality="North", reason="moved")
    commands[EarlyHelpCase.add_case_note] = AddCaseNote(by=LEAD, text="spoke to the school")
    assert {u.__name__ for u in commands} | {"record_screening"} >= {s.name for s in STEPS.values()}
    commands[EarlyHelpCase.record_screening] = None
    tried = 0
    for update in commands:
        name = update.__name__
        good = (
            commands[update].model_dump(mode="json")
            if commands[update] is not None
            else {"by": SCREENER, "decision": "accept"}
        )
        for what, (bad, field) in hostile_variants(good).items():
            before = (await case.snapshot(), await case.timeline())
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await case.handle.execute_update(name, bad, id=f"hostile-{uuid.uuid4().hex}", result_type=dict)
            cause = refused.value.cause
            assert isinstance(cause, ApplicationError) and cause.type == "InvalidCommand", (name, what, cause)
            assert field in cause.message, (name, what, cause.message)
            assert len(cause.message) < 2_000
            assert (await case.snapshot(), await case.timeline()) == before, (name, what)
            tried += 1
    assert tried >= 8 * len(STEPS)
    # And the case still works.
    assert (
        await case.handle.execute_update("record_screening", {"by": SCREENER, "decision": "accept"}, result_type=dict)
    )["stage"] == "awaiting_allocation"


async def test_the_same_update_id_sent_again_is_recorded_once(env, task_queue):
    """Retries are safe (docs/contract.md): a client that sends its command again with the same id gets the
    first result, and the case records it once."""
    case = await Case.start(env, task_queue)
    command = {"by": SCREENER, "decision": "accept"}
    first = await case.handle.execute_update("record_screening", command, id="screen-once", result_type=dict)
    again = await case.handle.execute_update("record_screening", command, id="screen-once", result_type=dict)
    assert first == again
    assert [e.type for e in await case.timeline()].count("ScreeningRecorded") == 1


async def test_an_unknown_update_is_refused(env, task_queue):
    case = await Case.start(env, task_queue)
    with pytest.raises(WorkflowUpdateFailedError):
        await case.handle.execute_update("close_everything", {"by": LEAD}, result_type=dict)
    assert await case.stage() == "screening"


MALFORMED_CONCERNS = {
    "empty details": {"by": LEAD, "details": ""},
    "missing by": {"details": "bruising seen on the child's arm"},
    "a time without a zone": {"by": LEAD, "details": "disclosure at school", "at": "2026-10-01T09:00:00"},
    "a bare string": "the child said they are scared to go home",
    "an extra field": {"by": LEAD, "details": "missing from home", "child_name": "X"},
    "NUL and 3 MB": {"by": LEAD, "details": "a\u0000" + HUGE},
}


@pytest.mark.parametrize("concern", MALFORMED_CONCERNS.values(), ids=MALFORMED_CONCERNS.keys())
async def test_safeguarding_concern_is_never_lost_whatever_its_shape(env, task_queue, pool, concern):
    """A concern is acted on at once, whatever its payload: recorded, flagged, stepped up, MASH referral
    written [000][004] (docs/contract.md "Signal")."""
    case = await Case.start(env, task_queue)
    await case.handle.signal("safeguarding_concern", concern)

    async def stepped_up():
        return await case.stage() == "stepped_up"

    await eventually(stepped_up)
    raised = [e for e in await case.timeline() if e.type == "SafeguardingConcernRaised"]
    assert len(raised) == 1 and raised[0].data["malformed"] and raised[0].by == "unknown"
    assert len(raised[0].data["details"]) <= 10_000 and "\u0000" not in raised[0].data["details"]
    await case.wait_saved(pool)
    assert await pool.fetchval("SELECT count(*) FROM mash_referrals WHERE case_id = $1", case.case_id) == 1
    escalations = await pool.fetch(
        "SELECT recipient, body FROM notifications WHERE case_id = $1 AND kind = 'escalation'", case.case_id
    )
    assert [r["recipient"] for r in escalations] == ["manager:Central"]
    assert "bruising" not in escalations[0]["body"]  # the concern's text stays on the case, not in messages


async def test_a_malformed_concern_while_stepped_up_writes_another_mash_referral(env, task_queue, pool):
    case = await Case.start(env, task_queue, immediate_safeguarding=True)
    assert await case.stage() == "stepped_up"
    await case.handle.signal("safeguarding_concern", {"details": "a second disclosure"})

    async def two_referrals():
        await case.wait_saved(pool)
        return await pool.fetchval("SELECT count(*) FROM mash_referrals WHERE case_id = $1", case.case_id) == 2

    await eventually(two_referrals)


def test_impossible_saves_are_told_apart_from_outages():
    import asyncpg

    assert impossible(asyncpg.exceptions.UntranslatableCharacterError("NUL"))
    assert impossible(asyncpg.exceptions.NumericValueOutOfRangeError("too big"))
    assert impossible(asyncpg.exceptions.DataError("cannot encode"))
    assert impossible(OverflowError("int too big"))
    assert not impossible(ConnectionRefusedError())
    assert not impossible(asyncpg.exceptions.CannotConnectNowError("starting up"))
    assert not impossible(asyncpg.exceptions.ConnectionDoesNotExistError("gone"))


async def marked(case: Case, flag: bool = True) -> bool:
    """Whether the case has been marked NeedsAttention (or, with `flag` False, unmarked) in its history."""
    history = await case.handle.fetch_history()
    return any(
        e.HasField("upsert_workflow_search_attributes_event_attributes")
        and b"NeedsAttention"
        in (attributes := e.upsert_workflow_search_attributes_event_attributes.SerializeToString())
        and (b"true" in attributes) == flag
        for e in history.events
    )


async def test_a_save_failing_for_an_hour_marks_the_case_and_tries_again_each_hour(env, pool):
    """The database down: a save's retries end after an hour (SAVE_GIVES_UP), the case is marked for ops, and
    it tries again each hour until the database is back, losing nothing; then the mark goes."""
    from temporalio.worker import Worker

    real, down = CaseActivities(pool), [True]

    @activity.defn(name="save_events")
    async def database_down(case_id: str, events: list[Event], first_run: str = "") -> list[Event]:
        if down[0]:
            raise RuntimeError("connection refused")
        return await real.save_events(case_id, events, first_run)

    queue = f"down-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[EarlyHelpCase],
        activities=[database_down, real.previous_cases],
        workflow_runner=workflow_runner(),
    ):
        case = await Case.start(env, queue)
        try:
            await env.sleep(SAVE_GIVES_UP - timedelta(minutes=5))
            assert not await marked(case)  # still retrying
            await env.sleep(timedelta(minutes=10))
            assert await marked(case)
            down[0] = False
            await env.sleep(RETRY_IMPOSSIBLE_SAVE)
            rows = await case.wait_saved(pool)
            assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1)) and await marked(case, False)
        finally:
            await end(case.handle)  # no case may outlive its worker on the shared server


async def test_an_impossible_save_marks_the_case_and_retries_hourly_losing_nothing(env, pool, monkeypatch):
    """A save that fails with a data error is not retried for ever in a tight loop: the case is marked
    NeedsAttention for ops and tries again later (each hour; here, two seconds), keeping every event."""
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    import workflows.case

    monkeypatch.setattr(workflows.case, "RETRY_IMPOSSIBLE_SAVE", timedelta(seconds=2))  # unsandboxed: seen
    calls: list[int] = []
    real = CaseActivities(pool)

    @activity.defn(name="save_events")
    async def broken_then_fixed(case_id: str, events: list[Event], first_run: str = "") -> list[Event]:
        calls.append(len(events))
        if len(calls) == 1:
            raise ApplicationError("save_impossible: test", type=SAVE_IMPOSSIBLE, non_retryable=True)
        return await real.save_events(case_id, events, first_run)

    queue = f"impossible-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[EarlyHelpCase],
        activities=[broken_then_fixed, real.previous_cases],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        case = await Case.start(env, queue)
        try:
            await eventually(lambda: marked(case))
            await env.sleep(timedelta(seconds=3))
            rows = await case.wait_saved(pool)
            assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1)) and len(calls) >= 2
        finally:
            # No case may outlive its worker here: the test server stops skipping time for a task nobody polls.
            await end(case.handle)


async def test_a_well_formed_case_goes_through_the_raw_handlers_from_typed_sdk_calls(env, task_queue):
    case = await Case.start(env, task_queue)
    snap = await case.allocated()
    assert snap.stage == "initial_contact" and snap.lead_practitioner == LEAD
