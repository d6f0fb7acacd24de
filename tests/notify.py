"""GOV.UK Notify for the delivery tests: the stand-in (starter/local/notify_standin.py) on a port of its own,
the directory of addresses and templates, and reading back what was sent."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from activities.delivery import KINDS, reference
from starter.local.notify_standin import Standin, build_app
from tests.support import LEAD, MANAGER, eventually
from worker.authz import Roles

SERVICE, SECRET = str(uuid.uuid4()), str(uuid.uuid4())
EMAILS = {
    "manager:Central": "central-managers@council.example",
    "mash": "mash@council.example",
    "duty_manager": "duty-manager@council.example",
    LEAD: "jo.jones@council.example",
    MANAGER: "tm-patel@council.example",
    "sw-ahmed": "sw.ahmed@council.example",
}
TEMPLATES = {kind: f"template-{kind}" for kind in KINDS}
ROLES = Roles(
    {MANAGER: frozenset({"managers"}), LEAD: frozenset({"practitioners"})},
    {MANAGER: frozenset({"Central"}), LEAD: frozenset({"Central"})},
)


def notify_standin() -> Any:
    """A module's `notify` fixture: the stand-in and its URL."""

    @pytest.fixture(scope="module")
    async def notify(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Standin, str]]:
        standin = Standin(SERVICE, SECRET, tmp_path_factory.mktemp("notify") / "sent.jsonl")
        runner = web.AppRunner(build_app(standin))
        await runner.setup()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield standin, f"http://127.0.0.1:{port}"
        await runner.cleanup()

    return notify


async def final(pool: Any, item: int) -> dict[str, Any]:
    async def settled() -> dict[str, Any] | None:
        row = await pool.fetchrow("SELECT * FROM notifications WHERE id = $1", item)
        return dict(row) if row and row["final_at"] else None

    return await eventually(settled, within=60)


def sent_with(standin: Standin, item: int) -> list[dict[str, Any]]:
    return [n for n in standin.sent.values() if n["reference"] == reference(item)]
