"""Identity is proven, never claimed (docs/contract.md "Trust at the boundary", README "Identity").

A worker with a roles file and the web app's public key; clients that sign
each command through `SignCommands`. Every refusal leaves the history as it
was (the checks run in the validator stage).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.store import CaseActivities
from starter.local import scripts
from tests.support import LEAD, MANAGER, SCREENER, Case, end
from worker.authz import Authorization, Roles
from worker.identity import Binding, SignCommands, Signer, Verifier
from worker.main import new_worker

ROLES = """
managers = ["tm-patel", "tm-south"]
screeners = ["das-screener"]
practitioners = ["lp-jones", "lp-south"]

[teams]
Central = ["tm-patel", "lp-jones"]
South = ["tm-south", "lp-south"]
"""


class Sender:
    """A client that signs its commands as whoever `as_person` names, with `signer` and `clock_offset`."""

    def __init__(self, env: Any, signer: Signer) -> None:
        self.env, self.signer = env, signer
        self.person: str | None = None
        self.offset = timedelta(0)
        self.captured: list[str] = []
        self.replay: str | None = None

        async def mint(binding: Binding) -> str | None:
            if self.replay is not None:
                return self.replay
            if self.person is None:
                return None
            token = self.signer.command_token(self.person, binding, await env.get_current_time() + self.offset)
            self.captured.append(token)
            return token

        self.client = Client(
            env.client.service_client,
            namespace=env.client.namespace,
            data_converter=pydantic_data_converter,
            interceptors=[SignCommands(mint)],
        )

    async def send(self, case: Case, person: str | None, update: str, command: dict[str, Any]) -> dict[str, Any]:
        self.person = person
        handle = self.client.get_workflow_handle(case.handle.id)
        return await handle.execute_update(update, command, id=uuid.uuid4().hex, result_type=dict)

    async def refused(self, case: Case, person: str | None, update: str, command: dict[str, Any]) -> Any:
        before = (await case.snapshot(), await case.timeline())
        with pytest.raises(WorkflowUpdateFailedError) as e:
            await self.send(case, person, update, command)
        assert (await case.snapshot(), await case.timeline()) == before, "a refused command changed the case"
        return e.value.cause


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


class Guarded:
    """A task queue whose worker checks identity, and the cases started on it."""

    def __init__(self, env: Any, queue: str) -> None:
        self.env, self.queue, self.cases = env, queue, []

    async def start(self) -> Case:
        case = await Case.start(self.env, self.queue)
        self.cases.append(case)
        return case


@pytest.fixture(scope="module")
async def guarded(env, pool, key, tmp_path_factory) -> AsyncIterator[Guarded]:
    roles_file = Path(tmp_path_factory.mktemp("roles")) / "roles.toml"
    roles_file.write_text(ROLES)
    checks = Authorization(Roles.load(roles_file), Verifier(key.public_key()))
    queue = Guarded(env, f"identity-{uuid.uuid4().hex[:8]}")
    async with new_worker(env.client, CaseActivities(pool), queue.queue, interceptors=[checks]):
        yield queue
        # No case may outlive its worker: the test server stops skipping time for a task nobody polls.
        for case in queue.cases:
            if (await case.snapshot()).outcome is None:
                await end(case.handle)


@pytest.fixture
def sender(env, key) -> Sender:
    return Sender(env, Signer(key))


SCREEN = {"by": SCREENER, "decision": "accept"}


async def test_a_signed_command_is_accepted_and_recorded_with_the_proven_actor(guarded, sender):
    case = await guarded.start()
    snap = await sender.send(case, SCREENER, "record_screening", SCREEN)
    assert snap["stage"] == "awaiting_allocation"
    assert [e.by for e in await case.timeline() if e.type == "ScreeningRecorded"] == [SCREENER]


async def test_a_forged_by_is_refused(guarded, sender):
    """A practitioner's token with `by` naming the manager: refused, nothing written."""
    case = await guarded.start()
    cause = await sender.refused(case, LEAD, "record_screening", SCREEN)
    assert cause.type == "NotAuthenticated" and "'lp-jones'" in cause.message


async def test_a_command_without_a_token_is_refused(guarded, sender):
    case = await guarded.start()
    cause = await sender.refused(case, None, "record_screening", SCREEN)
    assert cause.type == "NotAuthenticated" and "no identity token" in cause.message


async def test_an_expired_token_is_refused(guarded, sender):
    case = await guarded.start()
    sender.offset = -timedelta(minutes=10)
    cause = await sender.refused(case, SCREENER, "record_screening", SCREEN)
    assert cause.type == "NotAuthenticated" and "expired" in cause.message


async def test_a_token_from_another_issuer_is_refused(env, guarded):
    case = await guarded.start()
    impostor = Sender(env, Signer(Ed25519PrivateKey.generate()))
    cause = await impostor.refused(case, SCREENER, "record_screening", SCREEN)
    assert cause.type == "NotAuthenticated" and "not valid" in cause.message


async def test_a_token_with_another_issuer_name_is_refused(env, guarded, key):
    case = await guarded.start()
    cause = await Sender(env, Signer(key, issuer="somewhere-else")).refused(case, SCREENER, "record_screening", SCREEN)
    assert cause.type == "NotAuthenticated"


async def test_a_captured_token_cannot_be_replayed_for_another_command(guarded, sender):
    """A token is bound to one case, update, update id and payload."""
    case = await guarded.start()
    other = await guarded.start()
    await sender.send(case, SCREENER, "record_screening", SCREEN)
    sender.replay = sender.captured[-1]
    for target, update, command in (
        (other, "record_screening", SCREEN),  # another case
        (case, "allocate", {"by": SCREENER, "lead_practitioner": LEAD}),  # another update
        (case, "record_screening", {**SCREEN, "reason": "x"}),
    ):  # another payload
        cause = await sender.refused(target, None, update, command)
        assert cause.type == "NotAuthenticated" and "another command" in cause.message


async def test_a_manager_of_another_team_cannot_act_on_the_case(guarded, sender):
    """People act only on their teams' cases or cases they lead (docs/contract.md): South's manager cannot
    decide a Central closure; Central's can, but never on their own request [003]."""
    case = await guarded.start()  # a Central case

    async def do(update: Any, command: Any) -> Any:
        sender.person = command.by
        handle = sender.client.get_workflow_handle(case.handle.id)
        return await handle.execute_update(update, command, id=uuid.uuid4().hex, result_type=dict)

    await scripts.allocated(do)
    await sender.send(case, LEAD, "record_contact_attempt", {"by": LEAD, "method": "phone", "outcome": "declined"})
    decision = {"approve": True, "reason": "family declined"}
    cause = await sender.refused(case, "tm-south", "decide_closure", {"by": "tm-south", **decision})
    assert cause.type == "NotAuthorized" and "Central" in cause.message
    cause = await sender.refused(case, LEAD, "decide_closure", {"by": LEAD, **decision})
    assert cause.type == "NotAuthorized"  # a practitioner is no manager
    assert (await sender.send(case, MANAGER, "decide_closure", {"by": MANAGER, **decision}))["stage"] == "closed"


async def test_a_lead_must_be_a_known_practitioner(guarded, sender):
    case = await guarded.start()
    await sender.send(case, SCREENER, "record_screening", SCREEN)
    cause = await sender.refused(case, SCREENER, "allocate", {"by": SCREENER, "lead_practitioner": "lp-jonse"})
    assert cause.type == "NotAuthorized" and "lead_practitioner" in cause.message
