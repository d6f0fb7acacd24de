"""The CLI's sign-in: `earlyhelp login` keeps a login token for the web app's staff API.

The login token comes from the web app (`POST /api/login`, the person's
password) and is kept in the user's config directory, mode 0600. It proves
nothing to a worker: every staff command goes through the web app
(starter/staff/remote.py), which acts for the person, so this machine never
holds a key that could sign for anyone else.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import typer
from temporalio.exceptions import ApplicationError

from worker.config import Config
from worker.identity import Verifier


def session_file() -> Path:
    return Path(os.environ.get("EARLYHELP_SESSION_FILE") or Path(typer.get_app_dir("earlyhelp")) / "session.json")


@dataclass(frozen=True)
class Session:
    person: str
    token: str
    web_url: str

    def save(self) -> Path:
        path = session_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f)
        path.chmod(0o600)
        return path

    @classmethod
    def load(cls) -> Session | None:
        try:
            return cls(**json.loads(session_file().read_text()))
        except (OSError, ValueError, TypeError):
            return None


class SignInFailed(Exception):
    pass


async def _post(url: str, body: dict[str, str], bearer: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http,
            http.post(url, json=body, headers=headers) as response,
        ):
            if response.status != 200:
                raise SignInFailed(f"{response.status}: {(await response.text())[:300]}")
            return await response.json()
    except aiohttp.ClientError as e:
        raise SignInFailed(f"cannot reach the web app at {url}: {e}") from None


async def login(web_url: str, person: str, password: str) -> Session:
    answer = await _post(web_url.rstrip("/") + "/api/login", {"user": person, "password": password})
    return Session(answer["person"], answer["token"], web_url.rstrip("/"))


class NotProven(Exception):
    """A CLI command that acts for a person could not prove who that is."""


def proven_person(claimed: str | None, command: str) -> str | None:
    """Who a CLI command that writes directly (not through the worker) acts for. Where identity is verified
    (EARLYHELP_VERIFY_KEY), the person signed in, and a `--by` naming anyone else is refused; in an explicit open
    demo, whoever `--by` names; anywhere else nobody, since a claimed name proves nothing."""
    config = Config.from_env()
    if config.verify_key is not None:
        signed_in = Session.load()
        if signed_in is None:
            raise NotProven(f"{command} needs a proven person: sign in first (earlyhelp login)")
        try:
            person = Verifier.from_file(config.verify_key, config.token_issuer).login(
                signed_in.token, datetime.now(UTC)
            )
        except ApplicationError as e:
            raise NotProven(e.message) from None
        if claimed not in (None, person):
            raise NotProven(f"not_authenticated: --by {claimed!r} but signed in as {person!r}")
        return person
    if config.open_demo:
        return claimed or (signed_in.person if (signed_in := Session.load()) else None)
    raise NotProven(
        f"{command} acts for a person, and nothing here can prove who: run it where identity is verified "
        "(EARLYHELP_VERIFY_KEY, after earlyhelp login), or use the web app"
    )
