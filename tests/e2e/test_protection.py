"""Family data protected: encrypted histories, erasure by crypto-shredding, keys rotated, roles enforced."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.contrib.pydantic import pydantic_data_converter

from activities import projections
from activities.db import connect
from starter.ops.codec_server import bearer_person, build_app, fixed_person
from tests.e2e.conftest import Stack, wait_until
from tests.e2e.test_cli_case import NEEDS, case_id, drive_to_closure_pending, refer, saved_events
from worker.authz import Roles
from worker.codec import KEY_ID, CaseKeys, EncryptionCodec
from worker.config import Config
from worker.identity import Verifier
from worker.keys import MasterKeys, new_key_file

ROLES = """
managers = ["tm-patel", "tm-okafor"]
screeners = ["das-screener"]
practitioners = ["lp-jones"]
social_workers = ["sw-ahmed"]
"""
UI = "http://localhost:8233"


@pytest.fixture
def secure(stack: Stack, tmp_path) -> Stack:
    keys, roles = tmp_path / "keys.json", tmp_path / "roles.toml"
    new_key_file(keys)
    roles.write_text(ROLES)
    stack.extra = {"EARLYHELP_KEYS_FILE": str(keys), "EARLYHELP_ROLES_FILE": str(roles)}
    stack.start_worker()
    return stack


def closed_case(stack: Stack) -> str:
    case = case_id()
    refer(stack, case)
    drive_to_closure_pending(stack, case)
    stack.cli("approve", case, "--manager", "tm-patel", "--reason", "needs met")
    timeline = stack.cli_json("timeline", case)
    wait_until(lambda: len(saved_events(stack.database_url, case)) == len(timeline))
    return case


def test_the_workflow_service_never_sees_plaintext(secure: Stack):
    """After a full case, Temporal's SQLite file holds no family reference, referrer name or need description."""
    case = closed_case(secure)
    secure.server.stop()  # flush the SQLite file and its write-ahead log
    stored = b"".join(p.read_bytes() for p in secure.server.db_file.parent.glob("temporal.db*"))
    secure.server.start()
    assert f"case-{case}".encode() in stored  # the file is the right one: ids are in the clear
    for secret in (f"FAM-{case}", "A. Nurse", "presenting need", "dsl@school", "hv@nhs.example", "attendance"):
        assert secret.encode() not in stored, secret
    assert secure.cli_json("status", case)["stage"] == "closed"  # and the client decodes it


def test_codec_server_answers_cors_for_the_ui_only(secure: Stack, tmp_path):
    """The Web UI's decode call returns plaintext for a person who may see the case, 401 without a person;
    CORS admits the UI's origin only. (Per-person, per-team decisions: tests/e2e/test_identity.py.)"""
    case = closed_case(secure)

    async def check() -> None:
        config = Config.from_env(secure.env)
        master = MasterKeys.from_config(config)
        pool = await connect(secure.database_url)
        codec = EncryptionCodec(master, CaseKeys(pool, master))
        plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"family_ref": "FAM-X"}')
        encoded = await codec.with_context(_context(case)).encode([plain])
        body = json_format.MessageToJson(Payloads(payloads=encoded))
        assert "FAM-X" not in body
        roles = Roles.load(Path(secure.extra["EARLYHELP_ROLES_FILE"]))
        verifier = Verifier(Ed25519PrivateKey.generate().public_key())
        async with TestClient(TestServer(build_app(codec, pool, roles, bearer_person(verifier), UI))) as http:
            refused = await http.post("/decode", data=body, headers={"Origin": UI})
            assert refused.status == 401 and refused.headers["Access-Control-Allow-Origin"] == UI
        async with TestClient(TestServer(build_app(codec, pool, roles, fixed_person("tm-patel"), UI))) as http:
            decoded = await http.post("/decode", data=body, headers={"Origin": UI})
            text = await decoded.text()
            assert decoded.status == 200 and base64.b64encode(b'{"family_ref": "FAM-X"}').decode() in text
            other = await http.post("/decode", data=body, headers={"Origin": "http://evil.example"})
            assert "Access-Control-Allow-Origin" not in other.headers
        await pool.close()

    asyncio.run(check())


def test_erased_case_cannot_be_decoded_while_others_still_replay(secure: Stack):
    """Erasure destroys the case key: replay and status fail with 'erased'; other cases replay; stats remain."""
    erased, kept = closed_case(secure), closed_case(secure)
    open_case = case_id()
    refer(secure, open_case)
    wait_until(lambda: saved_events(secure.database_url, open_case), what="the open case saved")  # (saved after)
    assert "still open" in secure.cli("erase", open_case, "--by", "tm-patel", "--reason", "request", ok=False).output
    assert (
        "erase needs one of ['managers']"
        in secure.cli("erase", erased, "--by", "lp-jones", "--reason", "x", ok=False).output
    )
    secure.cli("erase", erased, "--by", "tm-patel", "--reason", "subject access: erasure request")
    status = secure.cli("status", erased, ok=False)
    assert status.exit_code == 1 and "erased" in status.output
    replay = secure.cli("replay", "--query", f"TaskQueue = '{secure.task_queue}'", ok=False)
    assert replay.exit_code == 1 and f"case-{erased}" in replay.output and "erased" in replay.output
    assert f"case-{kept}" not in [
        line.split()[1] for line in replay.output.splitlines() if line.startswith("NON-DETERMINISTIC")
    ]
    assert secure.cli("replay", "--query", f"WorkflowId = 'case-{kept}'").exit_code == 0
    rows = saved_events(secure.database_url, erased)
    assert rows and rows[0]["type"] == "CaseReferred"  # the statistics still count the case
    audit = secure.cli_json("audit", "--case", erased)
    assert audit[-1]["what"] == "erase" and audit[-1]["who"] == "tm-patel"


def test_histories_under_a_rotated_key_still_decode(secure: Stack):
    """Rotate the master key: cases written under the old key still decode and replay."""
    before = closed_case(secure)
    keys_file = secure.extra["EARLYHELP_KEYS_FILE"]
    assert "new active key k2" in secure.cli("keys", "rotate", "--file", keys_file).output
    worker, _ = secure.workers[0]
    worker.send_signal(signal.SIGTERM)
    worker.wait(60)
    secure.start_worker()
    after = closed_case(secure)
    for case in (before, after):
        assert secure.cli_json("status", case)["stage"] == "closed"
    assert "0 non-deterministic" in secure.cli("replay", "--query", f"TaskQueue = '{secure.task_queue}'").output


def test_only_a_manager_approves_and_never_their_own_request(secure: Stack):
    """decide_closure from a non-manager, or from the requester, is refused with a clear error [003]."""
    case = case_id()
    refer(secure, case)
    drive_to_closure_pending(secure, case)
    refused = secure.cli("approve", case, "--manager", "lp-jones", "--reason", "done", ok=False)
    assert refused.exit_code == 1 and "not_authorized" in refused.output and "managers" in refused.output
    stranger = secure.cli("record-screening", case, "--by", "someone", "--decision", "accept", ok=False)
    assert "has no role" in stranger.output
    # A manager who asked for the closure cannot approve it.
    other = case_id()
    refer(secure, other)
    drive_to_closure_pending(secure, other)
    secure.cli("refuse", other, "--manager", "tm-okafor", "--reason", "final TAF first")
    outcomes = json.dumps([{"need_code": n, "summary": "met", "status": "met"} for n in NEEDS])
    secure.cli("request-closure", other, "--by", "tm-patel", "--reason", "needs_met", "--need-outcomes", outcomes)
    self_approval = secure.cli("approve", other, "--manager", "tm-patel", "--reason", "mine", ok=False)
    assert "closure_not_self_approved" in self_approval.output
    assert secure.cli_json("approve", other, "--manager", "tm-okafor", "--reason", "ok")["stage"] == "closed"


def _context(case: str):
    from temporalio.converter import WorkflowSerializationContext

    return WorkflowSerializationContext(namespace="default", workflow_id=f"case-{case}")


def test_the_read_model_rebuilds_after_an_erasure(secure: Stack):
    """An erased case keeps its statistics through a rebuild of the read model from case_events."""
    case = closed_case(secure)
    secure.cli("erase", case, "--by", "tm-okafor", "--reason", "retention period over")

    async def rebuilt() -> dict:
        pool = await connect(secure.database_url)
        try:
            async with pool.acquire() as conn:
                await projections.rebuild(conn)
            return dict(await pool.fetchrow("SELECT stage, final_stage, locality FROM cases WHERE case_id = $1", case))
        finally:
            await pool.close()

    assert asyncio.run(rebuilt()) == {"stage": "closed", "final_stage": "closed", "locality": "North"}


def test_payloads_no_key_can_open_never_wedge_a_case(secure: Stack):
    """Random bytes claiming the encrypted encoding, under each kind of key id (this case's key, another
    case's, the master key, a key this deployment never had, none), sent past the codec as an attacker would:
    a start fails at once (InvalidReferral), an update is refused (InvalidCommand), a signal is acted on as a
    malformed concern; the case still takes the next real command."""
    case = case_id()
    refer(secure, case)
    key_ids = [f"case:{case}", f"case:{case_id()}", "master:k1", "master:k9", ""]

    def junk(key_id: str) -> RawValue:
        metadata = {"encoding": b"binary/encrypted", KEY_ID: key_id.encode()}
        return RawValue(
            Payload(metadata=metadata if key_id else {"encoding": b"binary/encrypted"}, data=os.urandom(80))
        )

    async def attack() -> None:
        client = await Client.connect(secure.server.address, data_converter=pydantic_data_converter)
        handle = client.get_workflow_handle(f"case-{case}")
        for key_id in key_ids:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update("record_screening", junk(key_id))
            assert getattr(refused.value.cause, "type", None) == "InvalidCommand", key_id
            started = await client.start_workflow(
                "EarlyHelpCase", junk(key_id), id=f"case-{case_id()}", task_queue=secure.task_queue
            )
            with pytest.raises(WorkflowFailureError) as failed:
                await started.result()
            assert getattr(failed.value.cause, "type", None) == "InvalidReferral", key_id
        await handle.signal("safeguarding_concern", junk(key_ids[0]))

    asyncio.run(attack())
    assert wait_until(lambda: secure.cli_json("status", case)["stage"] == "stepped_up")
    concern = [e for e in secure.cli_json("timeline", case) if e["type"] == "SafeguardingConcernRaised"]
    assert len(concern) == 1 and "could not be decrypted" in concern[0]["data"]["malformed"]
    assert (
        secure.cli_json("record-social-care-decision", case, "--by", "tm-patel", "--no-accepted")["stage"]
        != "stepped_up"
    )
