"""Identity proven end to end (README "Identity"): a dev server, a worker process that verifies, the web
app that signs people in, and three kinds of client: the bare `temporal` CLI, a Python script holding the
keys, and `earlyhelp` after `earlyhelp login`. A forged `by` is refused from each; the history is unchanged.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError

from starter.local.stack import stop
from tests.e2e.conftest import DevServer, Stack, free_port, secure, wait_until, web_app
from tests.e2e.test_cli_case import case_id, drive_to_closure_pending, refer
from worker.authz import hash_password
from worker.config import Config
from worker.temporal import connect

PASSWORD = "correct horse battery staple"
ROLES = f"""
managers = ["tm-patel", "tm-south"]
screeners = ["das-screener"]
practitioners = ["lp-jones"]

[teams]
North = ["tm-patel", "lp-jones"]
South = ["tm-south"]

[passwords]
{chr(10).join(f'"{p}" = "{hash_password(PASSWORD)}"' for p in ("tm-patel", "lp-jones", "tm-south"))}
"""


class Trusted:
    """The stack, its web app's address, and the CLI environment of a person who signed in."""

    def __init__(self, stack: Stack, web_url: str, signing: dict[str, str]) -> None:
        self.stack, self.web_url, self.signing = stack, web_url, signing

    def as_ops(self, *args: str, ok: bool = True):
        """Set-up steps signed with the signing key (as the local stack's seeding does)."""
        saved = self.stack.extra
        self.stack.extra = {**saved, **self.signing}
        try:
            return self.stack.cli(*args, ok=ok)
        finally:
            self.stack.extra = saved

    def history_length(self, case: str) -> int:
        return len(self.stack.cli_json("timeline", case))


@pytest.fixture(scope="module")
def trusted(dev_server: DevServer, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trusted]:
    folder = tmp_path_factory.mktemp("identity")
    stack = Stack(dev_server, database_url, folder)
    signing_key = secure(stack, ROLES)
    stack.extra["EARLYHELP_SESSION_FILE"] = str(folder / "session.json")
    stack.start_worker()
    try:
        with web_app({**stack.env, "EARLYHELP_SIGNING_KEY": str(signing_key)}, folder) as url:
            yield Trusted(stack, url, {"EARLYHELP_SIGNING_KEY": str(signing_key)})
    finally:
        stack.stop_all()


def closure_pending(t: Trusted) -> str:
    case = case_id()
    saved = t.stack.extra
    t.stack.extra = {**saved, **t.signing}
    try:
        refer(t.stack, case)
        drive_to_closure_pending(t.stack, case)
    finally:
        t.stack.extra = saved
    return case


def test_the_bare_temporal_cli_cannot_forge_a_managers_decision(trusted: Trusted):
    """No keys, no database: `temporal workflow update execute` with a plaintext `by` of a manager."""
    case = closure_pending(trusted)
    before = trusted.history_length(case)
    temporal = str(Path(sys.executable).parent / "temporal")
    result = subprocess.run(
        [
            temporal,
            "workflow",
            "update",
            "execute",
            "--address",
            trusted.stack.server.address,
            "-w",
            f"case-{case}",
            "--name",
            "decide_closure",
            "--input",
            json.dumps({"by": "tm-patel", "approve": True, "reason": "forged"}),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "NotEncrypted" in result.stderr  # (the message itself is encrypted, as every failure is)
    assert trusted.history_length(case) == before
    assert trusted.stack.cli_json("status", case)["stage"] == "closure_pending"


def test_a_script_holding_the_keys_cannot_forge_by(trusted: Trusted):
    """A Python script with the master keys and the database, but no person's token: refused."""
    case = closure_pending(trusted)
    before = trusted.history_length(case)

    async def forge() -> str:
        client = await connect(Config.from_env({**os.environ, **trusted.stack.env}))
        handle = client.get_workflow_handle(f"case-{case}")
        with pytest.raises(WorkflowUpdateFailedError) as e:
            await handle.execute_update("decide_closure", {"by": "tm-patel", "approve": True, "reason": "forged"})
        return e.value.cause.type

    assert asyncio.run(forge()) == "NotAuthenticated"
    assert trusted.history_length(case) == before


def test_earlyhelp_login_signs_each_command_for_the_person_only(trusted: Trusted):
    """`earlyhelp login` as lp-jones: lp-jones's commands go through; the same person claiming to be the
    manager is refused; signed in as the manager, the closure is approved."""
    case = closure_pending(trusted)
    cli = trusted.stack.cli
    os.environ["EARLYHELP_PASSWORD"] = PASSWORD
    try:
        assert "Signed in as lp-jones" in cli("login", "--web", trusted.web_url, "--user", "lp-jones").output
        session = Path(trusted.stack.extra["EARLYHELP_SESSION_FILE"])
        assert oct(session.stat().st_mode & 0o777) == "0o600"
        before = trusted.history_length(case)
        forged = cli("approve", case, "--manager", "tm-patel", "--reason", "forged", ok=False)
        assert forged.exit_code == 1 and "not_authenticated" in forged.output
        refused = cli("approve", case, "--reason", "my own", ok=False)  # by defaults to who signed in
        assert "not_authorized" in refused.output  # a practitioner is no manager
        assert trusted.history_length(case) == before
        cli("login", "--web", trusted.web_url, "--user", "tm-south")
        other_team = cli("approve", case, "--reason", "not my team", ok=False)  # another team's: no such case
        assert other_team.exit_code == 1 and "no such case in your teams' caseload" in other_team.output
        cli("login", "--web", trusted.web_url, "--user", "tm-patel")
        assert trusted.stack.cli_json("approve", case, "--reason", "needs met")["stage"] == "closed"
        os.environ["EARLYHELP_PASSWORD"] = "not the password"
        wrong = cli("login", "--web", trusted.web_url, "--user", "lp-jones", ok=False)
        assert wrong.exit_code == 1 and "not signed in" in wrong.output
    finally:
        os.environ.pop("EARLYHELP_PASSWORD", None)
        cli("logout")


@pytest.fixture(scope="module")
def codec_server(trusted: Trusted) -> Iterator[str]:
    """The real `earlyhelp codec-server` process, with the web app's public key and the roles file."""
    port = free_port()
    log = trusted.stack.folder / "codec.log"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "earlyhelp"), "codec-server"],
        env={**os.environ, **trusted.stack.env, "EARLYHELP_CODEC_PORT": str(port)},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def listening() -> bool:
        try:
            urllib.request.urlopen(urllib.request.Request(url + "/decode", method="OPTIONS"), timeout=1).close()
            return True
        except OSError:
            return False

    try:
        wait_until(listening, what="the codec server answering")
        yield url
    finally:
        stop(process)


def login_token(trusted: Trusted, person: str) -> str:
    from datetime import UTC, datetime

    from worker.identity import Signer

    return Signer.from_file(Path(trusted.signing["EARLYHELP_SIGNING_KEY"])).login_token(person, datetime.now(UTC))


def post(url: str, body: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=body.encode(), method="POST", headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_codec_server_decodes_a_case_only_for_its_team_and_audits_each_view(trusted: Trusted, codec_server: str):
    """The real process (one event loop): a North manager's token decodes a North case (200, audited);
    South's manager gets 403; no token 401. `earlyhelp audit --viewed` says who looked."""
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads
    from temporalio.client import Client

    case = closure_pending(trusted)

    async def referral_payload() -> str:
        raw = await Client.connect(trusted.stack.server.address)  # no codec: the payloads as stored
        history = await raw.get_workflow_handle(f"case-{case}").fetch_history()
        payloads = history.events[0].workflow_execution_started_event_attributes.input
        return json_format.MessageToJson(Payloads(payloads=list(payloads.payloads)))

    body = asyncio.run(referral_payload())
    assert f"FAM-{case}" not in body
    status, text = post(codec_server + "/decode", body, login_token(trusted, "tm-patel"))
    assert status == 200, text
    decoded = json_format.Parse(text, Payloads())
    assert f"FAM-{case}".encode() in decoded.payloads[0].data
    assert post(codec_server + "/decode", body, login_token(trusted, "tm-south"))[0] == 403
    assert post(codec_server + "/decode", body, None)[0] == 401
    viewed = trusted.stack.cli_json("audit", "--viewed", "--case", case)
    assert [row["who"] for row in viewed] == ["tm-patel"]


def test_the_temporal_cli_through_the_codec_server_gets_a_refused_updates_error(trusted: Trusted, codec_server: str):
    """`temporal workflow update execute --codec-endpoint`: the command is encrypted by the codec server,
    the worker refuses it (no person's token in a header), and the refusal decodes for the CLI at once."""
    case = closure_pending(trusted)
    before = trusted.history_length(case)
    temporal = str(Path(sys.executable).parent / "temporal")
    result = subprocess.run(
        [
            temporal,
            "workflow",
            "update",
            "execute",
            "--address",
            trusted.stack.server.address,
            "--codec-endpoint",
            codec_server,
            "--codec-auth",
            f"Bearer {login_token(trusted, 'tm-patel')}",
            "-w",
            f"case-{case}",
            "--name",
            "decide_closure",
            "--input",
            json.dumps({"by": "tm-patel", "approve": True, "reason": "no token"}),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "not_authenticated" in result.stderr, result.stderr
    assert trusted.history_length(case) == before


def test_erasure_needs_a_proven_manager_of_the_cases_own_team(trusted: Trusted):
    """`earlyhelp erase` (README "How to erase"): refused to someone not signed in, and to another team's
    manager; done for the case's own manager."""
    from tests.e2e.test_cli_case import saved_events

    case = closure_pending(trusted)
    trusted.as_ops("approve", case, "--manager", "tm-patel", "--reason", "needs met")
    events = trusted.stack.cli_json("status", case)["events"]
    wait_until(lambda: len(saved_events(trusted.stack.database_url, case)) == events, what="the case saved")
    cli = trusted.stack.cli
    unproven = cli("erase", case, "--by", "tm-patel", "--reason", "erasure request", ok=False)
    assert unproven.exit_code == 1 and "sign in first" in unproven.output
    os.environ["EARLYHELP_PASSWORD"] = PASSWORD
    try:
        cli("login", "--web", trusted.web_url, "--user", "tm-south")
        other_team = cli("erase", case, "--reason", "erasure request", ok=False)
        assert other_team.exit_code == 1 and "no such case in your teams' caseload" in other_team.output
        cli("login", "--web", trusted.web_url, "--user", "tm-patel")
        assert "erased" in cli("erase", case, "--reason", "erasure request").output
    finally:
        os.environ.pop("EARLYHELP_PASSWORD", None)
        cli("logout")
    status = cli("status", case, ok=False)
    assert status.exit_code == 1 and "erased" in status.output
