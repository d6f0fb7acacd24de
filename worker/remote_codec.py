"""A payload codec that encodes and decodes through the codec server, with the person's login token.

For the `earlyhelp` CLI of practitioners and managers: their laptop holds no
master key (which would open every family's case), only their own login
token. The codec server decides per person and per case and audits each
decode (starter/ops/codec_server.py). Encoding names the case (CASE_HEADER) so
that a command is encrypted under that case's key, as the worker's would be.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

from worker.codec import CaseErased

CASE_HEADER = "X-Earlyhelp-Case"


class CodecRefused(Exception):
    """The codec server would not encode or decode for this person (not signed in, or not their case)."""


class RemoteCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, url: str, token: str, case_id: str | None = None) -> None:
        self.url, self.token, self.case_id = url.rstrip("/"), token, case_id

    def with_context(self, context: SerializationContext) -> RemoteCodec:
        workflow_id = getattr(context, "workflow_id", None) or ""
        case_id = workflow_id.removeprefix("case-") if workflow_id.startswith("case-") else None
        return RemoteCodec(self.url, self.token, case_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self._call("encode", payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self._call("decode", payloads)

    async def _call(self, what: str, payloads: Sequence[Payload]) -> list[Payload]:
        if not payloads:
            return []
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        if self.case_id:
            headers[CASE_HEADER] = self.case_id
        body = json_format.MessageToJson(Payloads(payloads=list(payloads)))
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
                http.post(f"{self.url}/{what}", data=body, headers=headers) as response,
            ):
                text = await response.text()
        except aiohttp.ClientError as e:
            raise CodecRefused(f"cannot reach the codec server at {self.url}: {e}") from None
        if response.status == 410:
            raise CaseErased(self.case_id or "?")
        if response.status != 200:
            raise CodecRefused(f"the codec server refused to {what} ({response.status}): {text[:300]}")
        return list(json_format.Parse(text, Payloads()).payloads)
