"""Payload encryption: AES-256-GCM under each case's own data key (crypto-shredding).

Every payload of a case (its referral, commands, query and update results,
activity inputs, failure details) is encrypted under the case's data key,
itself wrapped by the active master key and kept in PostgreSQL (case_keys).
Payloads outside any case use the master key. The key id travels in the
payload's metadata, so master keys rotate without breaking old histories,
and a codec server can decode a payload with no other context. Erasing a
case destroys its data key: its history can no longer be decoded anywhere.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Sequence

import asyncpg
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)

from worker.keys import MasterKeys, seal, unseal

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
CIPHER = "encryption-cipher"
# Set on a payload that arrived unencrypted, so the workflow and the worker's checks can refuse it
# (worker/authz.py; workflows/case.py) instead of the decode failing a workflow task for ever.
PLAINTEXT = "earlyhelp-plaintext"


class CaseErased(Exception):
    """The case's data key was destroyed: its payloads can never be decoded again."""

    def __init__(self, case_id: str) -> None:
        super().__init__(f"case {case_id} has been erased: its data can no longer be decoded")
        self.case_id = case_id


class CaseKeys:
    """Per-case data keys in PostgreSQL, wrapped by a master key.

    Unwrapped keys are cached for `cache_seconds` only, so an erasure reaches
    every long-running process within that time.
    """

    def __init__(self, pool: asyncpg.Pool, master: MasterKeys, cache: bool = True, cache_seconds: float = 300) -> None:
        self.pool, self.master = pool, master
        self.cache_seconds = cache_seconds if cache else 0
        self._keys: dict[str, tuple[bytes, float]] = {}

    def _cached(self, case_id: str) -> bytes | None:
        dek, until = self._keys.get(case_id, (b"", 0.0))
        return dek if until > time.monotonic() else None

    async def for_encrypt(self, case_id: str) -> bytes:
        if dek := self._cached(case_id):
            return dek
        dek = secrets.token_bytes(32)
        wrapped = seal(self.master.key(self.master.active), dek, case_id.encode())
        await self.pool.execute("INSERT INTO case_keys (case_id, master_key_id, wrapped_key) VALUES ($1, $2, $3)"
                                " ON CONFLICT DO NOTHING", case_id, self.master.active, wrapped)
        return await self.for_decrypt(case_id)  # whichever process created it first wins

    async def for_decrypt(self, case_id: str) -> bytes:
        if dek := self._cached(case_id):
            return dek
        row = await self.pool.fetchrow("SELECT master_key_id, wrapped_key, erased_at FROM case_keys"
                                       " WHERE case_id = $1", case_id)
        if row is None:
            raise KeyError(f"no data key for case {case_id}")
        if row["erased_at"] is not None:
            raise CaseErased(case_id)
        dek = unseal(self.master.key(row["master_key_id"]), row["wrapped_key"], case_id.encode())
        if self.cache_seconds:
            self._keys[case_id] = (dek, time.monotonic() + self.cache_seconds)
        return dek



async def destroy_case_key(conn: asyncpg.Connection, case_id: str) -> bool:
    """Crypto-shredding: without its wrapped key, nothing of the case can be decoded again."""
    done = await conn.execute("UPDATE case_keys SET wrapped_key = NULL, erased_at = now()"
                              " WHERE case_id = $1 AND erased_at IS NULL", case_id)
    return done.endswith(" 1")


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, master: MasterKeys, case_keys: CaseKeys, case_id: str | None = None) -> None:
        self.master, self.case_keys, self.case_id = master, case_keys, case_id

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        workflow_id = getattr(context, "workflow_id", None) or ""
        case_id = workflow_id.removeprefix("case-") if workflow_id.startswith("case-") else None
        return EncryptionCodec(self.master, self.case_keys, case_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self.case_id:
            key_id, key = f"case:{self.case_id}", await self.case_keys.for_encrypt(self.case_id)
        else:
            key_id, key = f"master:{self.master.active}", self.master.key(self.master.active)
        return [Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode(), CIPHER: b"AES-256-GCM"},
                        data=seal(key, p.SerializeToString(), key_id.encode())) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                marked = Payload()
                marked.CopyFrom(p)
                marked.metadata[PLAINTEXT] = b"1"
                out.append(marked)
                continue
            key_id = p.metadata[KEY_ID].decode()
            kind, _, name = key_id.partition(":")
            key = await self.case_keys.for_decrypt(name) if kind == "case" else self.master.key(name)
            out.append(Payload.FromString(unseal(key, p.data, key_id.encode())))
        return out


def encrypted_converter(codec: PayloadCodec) -> DataConverter:
    """The project's converter (pydantic JSON) with the codec, failure messages encrypted too."""
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec,
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)
