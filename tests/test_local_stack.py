"""The local stack's master keys live beside its data directory, never in it, and are never replaced under a
database that holds cases (starter/local/stack.py)."""

from __future__ import annotations

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
