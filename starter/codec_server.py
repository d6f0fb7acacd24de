"""`earlyhelp codec-server`: decode payloads for the Temporal Web UI and CLI (`--codec-endpoint`).

Implements Temporal's codec server protocol (POST /decode and /encode with
{"payloads": [...]} in protobuf JSON). Only requests with the configured
bearer token are served, and CORS admits only the configured UI origin.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from worker.codec import CaseErased, EncryptionCodec

ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


def build_app(codec: EncryptionCodec, token: str, origin: str) -> web.Application:
    def cors(response: web.StreamResponse, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Origin") == origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    def authorised(request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    async def handle(request: web.Request, decode: bool) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return cors(web.Response(status=204), request)
        if not authorised(request):
            return cors(web.json_response({"error": "a valid bearer token is required"}, status=401), request)
        try:
            payloads = json_format.Parse(await request.text(), Payloads())
        except json_format.ParseError as e:
            return cors(web.json_response({"error": f"not a Payloads JSON: {e}"}, status=400), request)
        try:
            coded = await (codec.decode if decode else codec.encode)(list(payloads.payloads))
        except CaseErased as e:
            return cors(web.json_response({"error": str(e)}, status=410), request)
        body = json_format.MessageToJson(Payloads(payloads=coded))
        return cors(web.Response(text=body, content_type="application/json"), request)

    async def decode(request: web.Request) -> web.StreamResponse:
        return await handle(request, decode=True)

    async def encode(request: web.Request) -> web.StreamResponse:
        return await handle(request, decode=False)

    app = web.Application()
    app.router.add_route("*", "/decode", decode)
    app.router.add_route("*", "/encode", encode)
    return app
