"""Property-based fuzzing of the contract against the real worker (docs/contract.md "Trust at the boundary").

Hypothesis mutates well-formed commands, concerns and referrals, field by
field, into hostile JSON (control characters, huge numbers, wrong types,
nesting, missing and extra fields) and sends them by name, as a third-party
client would. Whatever is sent: it is refused with a clear error and the case
is unchanged, or it is accepted as valid; no workflow task fails, every
concern is acted on, and every event the case records is saved.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from starter.local.samples import sample_referral
from tests.servers import case_worker, own_time_skipping_server
from tests.support import LEAD, SCREENER, Case, end, eventually, new_case_id
from workflows.pathway import STEPS

NASTY_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40) | st.sampled_from(
    [
        "\u0000",
        "a\u0000b",
        "\r\n",
        "\x1b[31m",
        "\u202e",
        "x" * 70_000,
        "Jo Jones",
        "",
        " ",
        "9999-12-31T00:00:00Z",
        "P999999999D",
        "2026-01-01T09:00:00",
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | NASTY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NASTY_TEXT, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def mutated(draw: Any, good: dict[str, Any]) -> Any:
    """A well-formed input with one to three fields replaced, removed or added; or something else entirely."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    value = dict(good)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(value)) | NASTY_TEXT) if value else draw(NASTY_TEXT)
        if draw(st.booleans()) and key in value:
            del value[key]
        else:
            value[key] = draw(JSON)
    return value


env = own_time_skipping_server()


@pytest.fixture(scope="module")
async def task_queue(env: WorkflowEnvironment, pool: Any) -> AsyncIterator[str]:
    async with case_worker(env, pool, "fuzz") as queue:
        yield queue


COMMANDS = {step.name: model for model, step in STEPS.items()}
GOOD = {
    "record_screening": {"by": SCREENER, "decision": "accept"},
    "allocate": {"by": SCREENER, "lead_practitioner": LEAD},
    "withdraw_consent": {"by": LEAD, "reason": "the family asked"},
    "request_additional_service": {"by": LEAD, "service": "CAMHS", "needs": ["education"], "reason": "why"},
    "record_contact_attempt": {"by": LEAD, "method": "phone", "outcome": "no_answer"},
}

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


async def unchanged_or_valid(case: Case, name: str, payload: Any) -> None:
    before = (await case.snapshot(), await case.timeline())
    try:
        await case.handle.execute_update(name, payload, id=uuid.uuid4().hex, result_type=dict)
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        assert isinstance(cause, ApplicationError) and cause.type in ("InvalidCommand", "RuleBroken"), cause
        assert cause.message and len(cause.message) < 5_000 and "\u0000" not in cause.message
        assert (await case.snapshot(), await case.timeline()) == before
    else:
        COMMANDS[name].model_validate(payload)  # accepted only if it is a valid command of the contract
    assert (await case.snapshot()).stage  # the case still answers: no workflow task failing


@FUZZ
@given(data=st.data())
async def test_hostile_commands_are_refused_clearly_or_accepted_and_never_wedge(env, task_queue, pool, data):
    case = await Case.start(env, task_queue)
    for _ in range(3):
        name = data.draw(st.sampled_from(sorted(COMMANDS) + ["no_such_update"]))
        good = GOOD.get(name, {"by": LEAD})
        payload = data.draw(mutated(good))
        if name == "no_such_update":
            try:
                await case.handle.execute_update(name, payload, result_type=dict)
                raise AssertionError("an unknown update was accepted")
            except WorkflowUpdateFailedError:
                continue
        await unchanged_or_valid(case, name, payload)
    rows = await case.wait_saved(pool)
    assert [r["seq"] for r in rows] == list(range(1, (await case.snapshot()).events + 1))
    await end(case.handle, "fuzzed")


@FUZZ
@given(concern=mutated({"by": LEAD, "details": "bruising seen", "at": "2026-10-01T09:00:00+01:00"}))
async def test_every_safeguarding_concern_is_acted_on_whatever_its_shape(env, task_queue, pool, concern):
    case = await Case.start(env, task_queue)
    await case.handle.signal("safeguarding_concern", concern)

    async def stepped_up() -> bool:
        return (await case.snapshot()).stage == "stepped_up"

    await eventually(stepped_up)
    await case.wait_saved(pool)
    assert await pool.fetchval("SELECT count(*) FROM mash_referrals WHERE case_id = $1", case.case_id) == 1
    await end(case.handle, "fuzzed")


@FUZZ
@given(data=st.data())
async def test_a_hostile_referral_fails_at_once_as_invalid_or_opens_a_case(env, task_queue, data):
    good = sample_referral(new_case_id(), await env.get_current_time()).model_dump(mode="json")
    referral = data.draw(mutated({k: v for k, v in good.items() if k != "case_id"}))
    if isinstance(referral, dict):
        referral["case_id"] = good["case_id"]
    handle = await env.client.start_workflow(
        "EarlyHelpCase",
        referral,
        id=f"case-{good['case_id']}",
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    with env.auto_time_skipping_disabled():
        try:
            snap = await handle.query("snapshot", result_type=dict)
        except Exception:
            snap = None
        if snap is None:
            try:
                await handle.result()
            except WorkflowFailureError as e:
                assert isinstance(e.cause, ApplicationError) and e.cause.type == "InvalidReferral", e.cause
                assert e.cause.message and len(e.cause.message) < 5_000
                return
            raise AssertionError("a referral neither opened a case nor failed")
    assert snap["stage"]
    await end(handle, "fuzzed")
