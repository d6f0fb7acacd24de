"""The web app's API for the `earlyhelp` CLI: sign in, then a command token per command.

`POST /api/login` takes a staff id and password (JSON) and answers a login
token; `POST /api/command-token` takes that token as a bearer and the
command's binding, and answers a command token for the same person
(worker/identity.py). No cookies are involved, so no CSRF token either.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from web.auth import ROLES_KEY, THROTTLE_KEY, check_password
from worker.identity import Binding, NotAuthenticated, Signer, Verifier
from workflows.bounds import Id, refusal

SIGNER_KEY = web.AppKey("signer", Signer)
VERIFIER_KEY = web.AppKey("verifier", Verifier)
PREFIX = "/api/"


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Id
    password: str = Field(min_length=1, max_length=1_000)


class Wanted(BaseModel):
    """The command a token is asked for (worker/identity.py: Binding)."""

    model_config = ConfigDict(extra="forbid")
    workflow_id: str = Field(min_length=1, max_length=80)
    update: Id
    update_id: str = Field(min_length=1, max_length=200)
    sha: str = Field(min_length=1, max_length=100)


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as e:
        raise web.HTTPUnprocessableEntity(text=refusal(e)) from None


def _signer(request: web.Request) -> Signer:
    if SIGNER_KEY not in request.app:
        raise web.HTTPNotFound(text="this web app issues no tokens (EARLYHELP_SIGNING_KEY is not set)")
    return request.app[SIGNER_KEY]


async def login(request: web.Request) -> web.Response:
    signer, wanted = _signer(request), await _body(request, Login)
    throttle = request.app[THROTTLE_KEY]
    if wait := throttle.sign_in_wait(request.remote, wanted.user):
        raise web.HTTPTooManyRequests(text=f"too many failed attempts: try again in {int(wait // 60) + 1} minutes")
    # scrypt takes ~50 ms of CPU: off the event loop, so sign-ins never stall other requests.
    ok = await asyncio.to_thread(check_password, request.app[ROLES_KEY], wanted.user, wanted.password)
    throttle.signed_in(request.remote, wanted.user, ok)
    if not ok:
        raise web.HTTPUnauthorized(text="that staff id and password do not match")
    return web.json_response({"person": wanted.user, "token": signer.login_token(wanted.user, datetime.now(UTC))})


async def command_token(request: web.Request) -> web.Response:
    signer = _signer(request)
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    now = datetime.now(UTC)
    try:
        person = request.app[VERIFIER_KEY].login(bearer, now)
    except NotAuthenticated as e:
        raise web.HTTPUnauthorized(text=e.message) from None
    if not request.app[ROLES_KEY].people.get(person):  # removed from the roles file since signing in
        raise web.HTTPUnauthorized(text=f"{person} no longer has a role in this service")
    w = await _body(request, Wanted)
    token = signer.command_token(person, Binding(w.workflow_id, w.update, w.update_id, w.sha), now)
    return web.json_response({"token": token})


def add_routes(app: web.Application, signer: Signer | None) -> None:
    if signer is not None:
        app[SIGNER_KEY], app[VERIFIER_KEY] = signer, Verifier(signer.key.public_key(), signer.issuer)
    app.add_routes([web.post("/api/login", login), web.post("/api/command-token", command_token)])
