"""The local stack's master keys live beside its data directory, never in it, and are never replaced under a
database that holds cases; Ctrl-C stops it cleanly (starter/local/stack.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from starter.local.stack import master_key_file, master_keys_for
from worker.config import ConfigError
from worker.keys import new_key_file


def test_the_master_key_is_kept_outside_the_data_directory(tmp_path: Path):
    data = tmp_path / ".data"
    assert data not in master_key_file(data).parents
    assert master_key_file(data).parent.parent == tmp_path


def test_a_key_kept_in_the_data_directory_by_an_earlier_version_is_moved_out_of_it(tmp_path: Path):
    data = tmp_path / ".data"
    (data / "pgdata").mkdir(parents=True)
    new_key_file(data / "keys.json")
    written = (data / "keys.json").read_text()
    keys = master_keys_for(data)
    assert keys == master_key_file(data) and keys.read_text() == written
    assert not (data / "keys.json").exists()
    assert oct(keys.parent.stat().st_mode & 0o777) == "0o700"


def test_no_new_key_is_made_under_a_database_that_holds_cases(tmp_path: Path):
    data = tmp_path / ".data"
    (data / "pgdata").mkdir(parents=True)
    with pytest.raises(ConfigError, match="missing while"):
        master_keys_for(data)
    assert master_keys_for(tmp_path / "fresh") == master_key_file(tmp_path / "fresh")  # a fresh start makes one


CANCELLED_IN_FLIGHT = """
import asyncio, signal
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from starter.local.stack import stops_on_ctrl_c

async def seeding():  # a command in flight when Ctrl-C comes, cancelled as the SDK reports it
    asyncio.get_running_loop().call_soon(signal.raise_signal, signal.SIGINT)
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError as e:
        raise WorkflowUpdateRPCTimeoutOrCancelledError() from e

try:
    asyncio.run(stops_on_ctrl_c(seeding()))
except KeyboardInterrupt:
    print("stopped cleanly")
"""


def test_ctrl_c_while_seeding_stops_up_cleanly_not_with_the_sdks_error():
    """Ctrl-C during the demo's seeding cancels the command in flight, which the SDK reports as an error of its
    own: `up` must see the interruption (and stop everything), not that error's traceback."""
    done = subprocess.run([sys.executable, "-c", CANCELLED_IN_FLIGHT], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "stopped cleanly", done.stderr
