"""CLI commands that write directly (erase, contact) act only for a proven person: where nothing can prove
who is acting (no verify key, no open demo), a claimed --by is refused before anything is read or written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from starter.cli import app

NOWHERE = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none", "EARLYHELP_OPEN_DEMO": "false"}


@pytest.mark.parametrize(
    "args",
    [
        ["erase", "C1", "--by", "tm-patel", "--reason", "request"],
        ["contact", "--locality", "North", "--channel", "phone", "--outcome", "advice_given", "--by", "tm-patel"],
    ],
    ids=["erase", "contact"],
)
def test_a_claimed_by_is_refused_where_nothing_proves_who_acts(args: list[str]):
    result = CliRunner().invoke(app, args, env=NOWHERE)
    assert result.exit_code == 1, result.output
    assert "nothing here can prove who" in result.output
