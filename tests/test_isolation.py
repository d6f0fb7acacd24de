"""Tests never read the developer's HOME (tests/isolation.py): a stale `earlyhelp login` changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from starter.staff.session import Session, session_file
from tests.conftest import HOME

ROOT = Path(__file__).parent.parent


def test_the_tests_have_a_home_of_their_own_with_no_session_in_it():
    assert Path(os.environ["HOME"]) == HOME and session_file().is_relative_to(HOME)
    assert Session.load() is None


def test_a_stale_cli_session_in_home_does_not_change_a_cli_test(tmp_path):
    """A developer who ran `earlyhelp login` has a session naming a web app that is not running: the CLI would
    sign every command through it. A CLI end-to-end test run in that HOME still passes, and the session is
    left as it was."""
    home = tmp_path / "developer"
    stale = home / ".config" / "earlyhelp" / "session.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"person": "jo-jones", "token": "stale", "web_url": "http://127.0.0.1:9"}))
    before = stale.read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")} | {"HOME": str(home)}
    test = "tests/e2e/test_cli_case.py::test_a_case_from_referral_to_closure_through_the_cli"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert stale.read_text() == before
