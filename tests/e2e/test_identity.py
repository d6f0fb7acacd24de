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
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError

from starter.local import start_module, stop
from tests.e2e.conftest import DevServer, Stack, free_port, wait_until
from tests.e2e.test_cli_case import case_id, drive_to_closure_pending, refer
from tests.e2e.test_web import answers
from worker.authz import hash_password
from worker.config import Config
from worker.identity import new_key_pair
from worker.keys import new_key_file
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
    keys, roles = folder / "keys.json", folder / "roles.toml"
    new_key_file(keys)
    roles.write_text(ROLES)
    signing_key, verify_key = new_key_pair(folder)
    stack = Stack(dev_server, database_url, folder)
    stack.extra = {"EARLYHELP_KEYS_FILE": str(keys), "EARLYHELP_ROLES_FILE": str(roles),
                   "EARLYHELP_VERIFY_KEY": str(verify_key), "EARLYHELP_SESSION_FILE": str(folder / "session.json")}
    stack.start_worker()
    port = free_port()
    web = start_module("web", {**stack.env, "EARLYHELP_SIGNING_KEY": str(signing_key),
                               "EARLYHELP_WEB_PORT": str(port)}, folder / "web.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(url + "/healthz"), what="the web app answering")
        yield Trusted(stack, url, {"EARLYHELP_SIGNING_KEY": str(signing_key)})
    finally:
        stop(web)
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
        [temporal, "workflow", "update", "execute", "--address", trusted.stack.server.address,
         "-w", f"case-{case}", "--name", "decide_closure",
         "--input", json.dumps({"by": "tm-patel", "approve": True, "reason": "forged"})],
        capture_output=True, text=True, timeout=60)
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
        other_team = cli("approve", case, "--reason", "not my team", ok=False)
        assert "not_authorized" in other_team.output and "North" in other_team.output
        cli("login", "--web", trusted.web_url, "--user", "tm-patel")
        assert trusted.stack.cli_json("approve", case, "--reason", "needs met")["stage"] == "closed"
        wrong = cli("login", "--web", trusted.web_url, "--user", "tm-patel", ok=False)
        assert wrong.exit_code == 0  # the same password again: still fine
    finally:
        os.environ.pop("EARLYHELP_PASSWORD", None)
        cli("logout")
