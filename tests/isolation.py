"""The tests' own HOME: nothing a developer's machine holds reaches a test.

`earlyhelp login` keeps its session in the user's config folder, and the CLI
signs every command through the web app that session names; a developer's own
settings (`EARLYHELP_*`, `TEMPORAL_*`, `DATABASE_URL`) would likewise point a
test at their stack. So the test session starts with a HOME and XDG folders of
its own, and without those variables. Subprocesses inherit the same.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

XDG = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")
OWN_SETTINGS = ("EARLYHELP_", "TEMPORAL_", "DATABASE_URL")


def isolate() -> Path:
    """Point HOME and the XDG folders at a new empty folder and drop the user's own settings; returns HOME."""
    home = Path(tempfile.mkdtemp(prefix="earlyhelp-test-home-"))
    for name in [n for n in os.environ if n.startswith(OWN_SETTINGS)]:
        del os.environ[name]
    os.environ["HOME"] = str(home)
    for name, folder in zip(XDG, (".config", ".local/share", ".cache", ".local/state"), strict=True):
        os.environ[name] = str(home / folder)
    return home
