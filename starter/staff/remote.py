"""The staff CLI's one door: after `earlyhelp login`, every staff command is a call to the web app's staff API
(web/staff_api.py) as the person who signed in. This machine then needs only the web app's URL."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

import aiohttp

from starter.staff.session import Session

PREFIX = "/api/v1"
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


class Refused(Exception):
    """The web app answered with an error: its status and what it said (e.g. the rule that refused)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def signed_in() -> Session | None:
    return Session.load()


async def _call(
    session: Session, method: str, path: str, body: Any = None, params: dict[str, str] | None = None, **headers: str
) -> Any:
    url = session.web_url + PREFIX + path
    headers = {"Authorization": f"Bearer {session.token}", **headers}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http,
            # (a file's bytes as they are; anything else as JSON)
            http.request(method, url, **_sent(body), params=params, headers=headers) as response,
        ):
            if response.status >= 400:
                text = await response.text()
                try:
                    message = (await response.json(content_type=None))["error"]
                except (ValueError, KeyError, TypeError):
                    message = text[:300]
                raise Refused(response.status, message)
            return await response.json()
    except aiohttp.ClientError as e:
        raise Refused(503, f"cannot reach the web app at {session.web_url}: {e}") from None


def _sent(body: Any) -> dict[str, Any]:
    return {"data": body} if isinstance(body, bytes) else {"json": body}


def call(session: Session, method: str, path: str, body: Any = None, **params: Any) -> Any:
    """One call to the staff API; `params` left as None are not sent."""
    query = {k: "1" if v is True else str(v) for k, v in params.items() if v is not None and v is not False}
    headers = {"Idempotency-Key": query.pop("idempotency_key")} if "idempotency_key" in query else {}
    return asyncio.run(_call(session, method, path, body, query, **headers))


def dated(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the read model gives them: the instants JSON carried as text, datetimes again."""
    return [
        {k: datetime.fromisoformat(v) if isinstance(v, str) and _INSTANT.match(v) else v for k, v in r.items()}
        for r in rows
    ]
