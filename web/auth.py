"""Who is signed in, what they may see, and the guards every request passes.

People, roles, teams and password hashes come from the roles file
(worker/authz.py), the same file the worker enforces. Sessions are sealed
cookies (aiohttp-session, AES via Fernet); every unsafe request must carry
the session's CSRF token, in the form or in an X-CSRF-Token header.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp_session import get_session, new_session

from worker.authz import Roles, Scope, in_scope, password_matches

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# /api/ authenticates by password or bearer token, never by cookie (web/api.py).
PUBLIC = ("/sign-in", "/static/", "/healthz", "/favicon.ico", "/api/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
ROLES_KEY = web.AppKey("roles", Roles)


@dataclass(frozen=True)
class User:
    id: str
    roles: frozenset[str]
    localities: frozenset[str] | None  # None: every locality

    @property
    def is_manager(self) -> bool:
        return "managers" in self.roles

    @property
    def in_mash(self) -> bool:
        return "mash" in self.roles

    @property
    def refers(self) -> bool:
        return bool(self.roles & {"screeners", "managers"})  # EH Duty and Advice [000]

    @property
    def refers_a_step_down(self) -> bool:
        """A social worker refers a step-down from children's social care [004] (and only that)."""
        return self.refers or "social_workers" in self.roles

    def sees(self, locality: str, lead: str | None) -> bool:
        """A person sees their teams' cases and the cases they lead (the worker's rule: worker/authz.py)."""
        return in_scope(self.localities, self.id, Scope("", locality, lead))


def user_of(roles: Roles, person: str) -> User:
    return User(person, roles.people.get(person, frozenset()), roles.localities(person))


def current_user(request: web.Request) -> User:
    return request["user"]


# A hash to compare against when the person is unknown, so a wrong name takes as long as a wrong password.
_NOBODY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def check_password(roles: Roles, person: str, password: str) -> bool:
    stored = roles.passwords.get(person)  # only people with a role have one (Roles.load)
    return password_matches(password, stored or _NOBODY) and stored is not None


class Throttle:
    """Failed sign-ins per staff id: after `limit` within `window` seconds, that id waits out the window."""

    def __init__(self, limit: int = 5, window: float = 900.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.failures: dict[str, list[float]] = {}

    def _recent(self, person: str) -> list[float]:
        now = self.clock()
        return [t for t in self.failures.get(person, []) if now - t < self.window]

    def wait(self, person: str, limit: int | None = None) -> float:
        """Seconds before `person` (any key) may try again (0: now)."""
        recent = self._recent(person)
        return self.window - (self.clock() - recent[0]) if len(recent) >= (limit or self.limit) else 0.0

    def failed(self, person: str) -> None:
        if len(self.failures) > 10_000:  # forget ids whose failures have aged out: memory stays bounded
            self.failures = {p: r for p in list(self.failures) if (r := self._recent(p))}
        self.failures[person] = [*self._recent(person), self.clock()]

    def succeeded(self, person: str) -> None:
        self.failures.pop(person, None)

    # Sign-ins, by the form or the API, are throttled per address and staff id (so nobody elsewhere can lock a
    # person out: their failures count against their own address), and per address whoever they were for.

    def sign_in_wait(self, address: str | None, person: str) -> float:
        return max(self.wait(f"{address}|{person}"), self.wait(f"{address}|*", ADDRESS_LIMIT))

    def signed_in(self, address: str | None, person: str, ok: bool) -> None:
        if ok:
            self.succeeded(f"{address}|{person}")
        else:
            self.failed(f"{address}|{person}")
            self.failed(f"{address}|*")


THROTTLE_KEY = web.AppKey("throttle", Throttle)
# Failed sign-ins from one address, whoever they were for, before it waits out the window.
ADDRESS_LIMIT = 50


async def sign_in(request: web.Request, person: str) -> None:
    session = await new_session(request)  # a new session id on sign-in: no fixation
    session["user"] = person
    session["csrf"] = secrets.token_urlsafe(32)


async def csrf_token(request: web.Request) -> str:
    session = await get_session(request)
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


async def flash(request: web.Request, message: str) -> None:
    (await get_session(request))["flash"] = message


async def take_flash(request: web.Request) -> str | None:
    return (await get_session(request)).pop("flash", None)


@web.middleware
async def require_sign_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Anonymous requests go to the sign-in page; a person removed from the roles file is signed out."""
    if request.path.startswith(PUBLIC):
        return await handler(request)
    session = await get_session(request)
    roles = request.app[ROLES_KEY]
    person = session.get("user")
    if person is None or not roles.people.get(person):
        if person is not None:  # removed from the roles file since signing in
            session.invalidate()
        target = request.path_qs if request.method in SAFE_METHODS else "/"
        raise web.HTTPSeeOther(f"/sign-in?next={quote(target)}")
    request["user"] = user_of(roles, person)
    return await handler(request)


@web.middleware
async def check_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in SAFE_METHODS and not request.path.startswith("/api/"):
        session = await get_session(request)
        sent = request.headers.get("X-CSRF-Token") or str((await request.post()).get("csrf", ""))
        expected = session.get("csrf")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise web.HTTPForbidden(
                text="This form has expired or did not come from this site: nothing was "
                "recorded. Go back, reload the page and try again."
            )
    return await handler(request)


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect. Browsers drop tabs and newlines from a URL and read
    a backslash as a slash, so `/\t/evil.example` would be `//evil.example`: any of those is refused."""
    if not target or any(c <= " " or c in "\\\x7f" for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
