"""`earlyhelp codec-server`: decode payloads for the Temporal Web UI and CLI (`--codec-endpoint`).

Implements Temporal's codec server protocol (POST /decode and /encode with
{"payloads": [...]} in protobuf JSON). It decides per person and per case:

- a request carries a person's login token (`Authorization: Bearer ...`,
  from `earlyhelp login`), verified with the web app's public key; no shared
  secret;
- a payload of a case decodes only for someone who may see that case
  (`Roles.check`, the one definition the worker and the web app use): 403
  otherwise, 410 for an erased case;
- every decode of a case is written to `audit_log` (who viewed which case,
  when): `earlyhelp audit --viewed` answers "who looked at this family";
- CORS admits only the configured UI origin.

The Temporal Web UI cannot send a person's token. For it, `--dev-ui` serves
one fixed person (`EARLYHELP_CODEC_DEV_PERSON`, audited as such) and is
refused on any address but loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import WorkflowSerializationContext
from temporalio.exceptions import ApplicationError

from worker.authz import Roles, Scope
from worker.codec import KEY_ID, CaseErased, EncryptionCodec
from worker.identity import NotAuthenticated, Verifier
from worker.remote_codec import CASE_HEADER

JUST_OPENED_SECONDS = 5.0  # a case's first save lands milliseconds after its start
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"  # (the UI's; the CLI adds CASE_HEADER)
Who = Callable[[web.Request], Awaitable[str]]


def case_of(payload: Payload) -> str | None:
    key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
    kind, _, name = key_id.partition(":")
    return name if kind == "case" else None


def context_of(case_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="", workflow_id=f"case-{case_id}")


def bearer_person(verifier: Verifier, without_token: str | None = None) -> Who:
    """The person whose login token the request carries; `without_token` (--dev-ui, loopback only) for a
    request with none, i.e. the Temporal Web UI's."""

    async def who(request: web.Request) -> str:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token and without_token:
            return without_token
        try:
            return verifier.login(token, datetime.now(UTC))
        except NotAuthenticated as e:
            raise web.HTTPUnauthorized(text=e.message) from None

    return who


def fixed_person(person: str) -> Who:
    async def who(request: web.Request) -> str:
        return person

    return who


def build_app(codec: EncryptionCodec, pool: asyncpg.Pool, roles: Roles, who: Who, origin: str) -> web.Application:
    def cors(response: web.StreamResponse, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Origin") == origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    async def scopes(cases: set[str]) -> dict[str, Scope]:
        rows = await pool.fetch(
            "SELECT case_id, locality, lead_practitioner FROM cases WHERE case_id = ANY($1)", list(cases)
        )
        return {r["case_id"]: Scope(r["case_id"], r["locality"], r["lead_practitioner"]) for r in rows}

    async def may_view(person: str, cases: set[str]) -> None:
        """Someone of the service who may see each case; a case just opened is waited for (briefly) in the
        read model, whose row says whose it is."""
        try:
            roles.check("view", person)  # a person of the service, whatever the case
        except ApplicationError as e:
            raise web.HTTPForbidden(text=e.message) from None
        known = await scopes(cases)
        waited = 0.0
        while cases - known.keys() and waited < JUST_OPENED_SECONDS:
            await asyncio.sleep(0.05)
            waited += 0.05
            known = await scopes(cases)
        for case_id in cases:
            try:
                if case_id not in known:
                    raise ApplicationError(f"not_authorized: case {case_id} is not in the read model yet")
                roles.check("view", person, known[case_id])
            except ApplicationError as e:
                raise web.HTTPForbidden(text=e.message) from None

    async def handle(request: web.Request, decode: bool) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return cors(web.Response(status=204), request)
        try:
            person = await who(request)
            try:
                payloads = list(json_format.Parse(await request.text(), Payloads()).payloads)
            except json_format.ParseError as e:
                raise web.HTTPBadRequest(text=f"not a Payloads JSON: {e}") from None
            # Encoding for a case (the CLI's remote codec names it) uses that case's key, as the worker would.
            # Encoding discloses nothing, so anyone of the service may: a safeguarding concern about another
            # team's case is never stopped here, and the worker decides who may act on which case.
            for_case = request.headers.get(CASE_HEADER) if not decode else None
            await may_view(person, {c for p in payloads if (c := case_of(p))} if decode else set())
            coder = codec.with_context(context_of(for_case)) if for_case else codec
            try:
                coded = await (coder.decode if decode else coder.encode)(payloads)
            except CaseErased as e:
                raise web.HTTPGone(text=str(e)) from None
            cases = {c for p in payloads if (c := case_of(p))} if decode else set()
            if cases:
                await pool.executemany(
                    "INSERT INTO audit_log (actor, action, case_id, reason) VALUES ($1, 'viewed', $2,"
                    " 'decoded through the codec server')",
                    [(person, c) for c in sorted(cases)],
                )
        except web.HTTPException as e:
            return cors(web.json_response({"error": e.text}, status=e.status), request)
        body = json_format.MessageToJson(Payloads(payloads=coded))
        return cors(web.Response(text=body, content_type="application/json"), request)

    async def decode(request: web.Request) -> web.StreamResponse:
        return await handle(request, decode=True)

    async def encode(request: web.Request) -> web.StreamResponse:
        return await handle(request, decode=False)

    app = web.Application()
    app.router.add_route("*", "/decode", decode)
    app.router.add_route("*", "/encode", encode)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", healthz)
    return app
