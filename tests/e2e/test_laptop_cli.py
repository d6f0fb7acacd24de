"""The `earlyhelp` CLI on a laptop with no master key (README "What each client holds"): it encodes and
decodes through the codec server with the signed-in person's token, and sees only that person's cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_cli_case import case_id
from tests.e2e.test_identity import PASSWORD, Trusted, closure_pending, codec_server, trusted  # noqa: F401

EARLYHELP = str(Path(sys.executable).parent / "earlyhelp")


def laptop(t: Trusted, codec: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`earlyhelp` as a process whose environment has no master key and no signing key."""
    env = {
        k: v
        for k, v in {**os.environ, **t.stack.env}.items()
        if k not in ("EARLYHELP_KEYS_FILE", "EARLYHELP_MASTER_KEY", "EARLYHELP_SIGNING_KEY")
    }
    env |= {"EARLYHELP_CODEC_URL": codec, "EARLYHELP_PASSWORD": PASSWORD, "COLUMNS": "250"}
    return subprocess.run([EARLYHELP, *args], capture_output=True, text=True, timeout=120, env=env)


def test_the_cli_needs_no_master_key_and_decodes_only_the_signed_in_persons_cases(trusted: Trusted, codec_server: str):  # noqa: F811
    case = closure_pending(trusted)  # a North case, led by lp-jones
    unsigned = laptop(trusted, codec_server, "status", case)
    assert unsigned.returncode == 2 and "sign in first" in unsigned.stderr + unsigned.stdout

    assert laptop(trusted, codec_server, "login", "--web", trusted.web_url, "--user", "tm-patel").returncode == 0
    status = laptop(trusted, codec_server, "status", case, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["stage"] == "closure_pending"
    # A command encoded by the codec server under the case's key, signed through the web app, decided.
    refused = laptop(
        trusted, codec_server, "refuse", case, "--manager", "tm-patel", "--reason", "final TAF first", "--json"
    )
    assert refused.returncode == 0, refused.stderr
    assert json.loads(refused.stdout)["stage"] != "closed"
    timeline = laptop(trusted, codec_server, "timeline", case, "--json")
    assert timeline.returncode == 0 and "A. Nurse" in timeline.stdout  # sealed values opened remotely
    # A new case, referred from the laptop: its referral is encrypted under its own new key.
    new = case_id()
    referred = laptop(
        trusted,
        codec_server,
        "refer",
        "--case-id",
        new,
        "--locality",
        "North",
        "--family-ref",
        f"FAM-{new}",
        "--referrer-name",
        "A. Teacher",
        "--referrer-agency",
        "school",
        "--referrer-contact",
        "dsl@school.example",
        "--need",
        "education::attendance",
        "--json",
    )
    assert referred.returncode == 0, referred.stderr
    assert json.loads(referred.stdout)["stage"] == "screening"

    # Another team's manager: the codec server will not decode the North case for them.
    assert laptop(trusted, codec_server, "login", "--web", trusted.web_url, "--user", "tm-south").returncode == 0
    other = laptop(trusted, codec_server, "status", case)
    assert other.returncode == 1 and "403" in other.stdout + other.stderr
    # ...but a safeguarding concern they raise about it is never stopped: encoding discloses nothing.
    concern = laptop(trusted, codec_server, "safeguarding", case, "--by", "tm-south", "--details", "seen at the door")
    assert concern.returncode == 0, concern.stdout + concern.stderr
    assert trusted.stack.cli_json("status", case)["stage"] == "stepped_up"
    viewed = trusted.stack.cli_json("audit", "--viewed", "--case", case)
    assert {row["who"] for row in viewed} == {"tm-patel"}
    laptop(trusted, codec_server, "logout")
