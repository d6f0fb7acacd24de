"""The web app's sign-in for the `earlyhelp` CLI and other clients of the staff API (web/staff_api.py).

`POST /api/login` takes a staff id and password (JSON) and answers a login
token, the bearer of every staff API call. No cookies are involved, so no
CSRF token either.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from web.auth import ROLES_KEY, THROTTLE_KEY, check_password
from worker.identity import Signer, Verifier
from workflows.bounds import Id, refusal

SIGNER_KEY = web.AppKey("signer", Signer)
VERIFIER_KEY = web.AppKey("verifier", Verifier)
PREFIX = "/api/"


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Id
    password: str = Field(min_length=1, max_length=1_000)


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


def add_routes(app: web.Application, signer: Signer | None) -> None:
    if signer is not None:
        app[SIGNER_KEY], app[VERIFIER_KEY] = signer, Verifier(signer.key.public_key(), signer.issuer)
    app.add_routes([web.post("/api/login", login)])
