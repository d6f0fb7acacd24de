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

import asyncio
import copy
import dataclasses
import secrets
import time
from collections.abc import Sequence
from typing import Self, cast

import asyncpg
from cachetools import TTLCache
from cryptography.exceptions import InvalidTag
from google.protobuf.message import DecodeError
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
from workflows.interfaces import PLAINTEXT, UNDECODABLE

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
CIPHER = "encryption-cipher"
# PLAINTEXT (workflows/interfaces.py) marks a payload that arrived unencrypted, so the workflow and the
# worker's checks can refuse it (worker/authz.py; workflows/case.py) instead of the decode failing a workflow
# task for ever.


class NoCaseKey(KeyError):
    """No data key was ever made for the case (an erased case's is CaseErased)."""


class Undecodable(Exception):
    """A payload no key of this deployment could ever decrypt: treated as malformed input (UNDECODABLE)."""


class CaseErased(Exception):
    """The case's data key was destroyed: its payloads can never be decoded again."""

    def __init__(self, case_id: str) -> None:
        super().__init__(f"case {case_id} {self.SAID}: its data can no longer be decoded")
        self.case_id = case_id

    SAID = "has been erased"

    @classmethod
    def said_in(cls, message: str) -> bool:
        """A failure from another process (e.g. a worker that could not encode a query's answer) says so."""
        return cls.SAID in message


ERASURES = "case_erased"  # the NOTIFY channel an erasure announces itself on (activities/erasure.py)


class CaseKeys:
    """Per-case data keys in PostgreSQL, wrapped by a master key.

    Unwrapped keys are cached only while this process listens for erasures
    (LISTEN case_erased): an erasure drops the key from every listening
    process's cache the moment it commits. If the listening connection is
    lost, the cache is emptied and no longer used. Without `listen_url` (the
    database's URL, for a connection of its own) nothing is cached. At most
    `cache_size` keys are kept, each for `cache_seconds`: a key expired or
    pushed out is gone from memory, not only unused (a cache that only
    expired them grew by every case the worker had touched: 24 MiB at
    100,000 cases, benchmarks/README.md "Open cases").
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        master: MasterKeys,
        listen_url: str | None = None,
        cache_seconds: float = 300,
        cache_size: int = 1024,
    ) -> None:
        self.pool, self.master, self.listen_url = pool, master, listen_url
        self.cache_seconds = cache_seconds if listen_url else 0
        self._keys: TTLCache[str, bytes] = TTLCache(cache_size, max(self.cache_seconds, 1), timer=time.monotonic)
        self._listening: asyncpg.Connection | None = None
        # One listener however many first reads run at once (each would otherwise connect, and clear the keys
        # the others had cached).
        self._connecting = asyncio.Lock()
        self._generation = 0  # bumped by each erasure heard: a key read before it is not cached after it

    def _cached(self, case_id: str) -> bytes | None:
        return self._keys.get(case_id) if self.cache_seconds > 0 else None

    async def _listen(self) -> bool:
        if self._listening is not None and not self._listening.is_closed():
            return True
        async with self._connecting:
            if self._listening is None or self._listening.is_closed():
                self._keys.clear()
                try:
                    conn = await asyncpg.connect(self.listen_url)
                    await conn.add_listener(ERASURES, self._heard)
                    conn.add_termination_listener(lambda _: self._stop_caching())
                except (OSError, asyncpg.PostgresError):
                    return False
                self._listening = conn
        return True

    def _heard(self, _conn: object, _pid: int, _channel: str, case_id: str) -> None:
        self._generation += 1
        self._keys.pop(case_id, None)

    def _stop_caching(self) -> None:
        self._generation += 1
        self._keys.clear()
        self.cache_seconds = 0

    async def for_encrypt(self, case_id: str) -> bytes:
        if dek := self._cached(case_id):
            return dek
        dek = secrets.token_bytes(32)
        wrapped = seal(self.master.key(self.master.active), dek, case_id.encode())
        # Never a new key for an erased case: what it would encrypt could not be erased with it.
        await self.pool.execute(
            "INSERT INTO case_keys (case_id, master_key_id, wrapped_key) SELECT $1, $2, $3"
            " WHERE NOT EXISTS (SELECT 1 FROM erased_cases WHERE case_id = $1)"
            " ON CONFLICT DO NOTHING",
            case_id,
            self.master.active,
            wrapped,
        )
        return await self.for_decrypt(case_id)  # whichever process created it first wins

    async def for_decrypt(self, case_id: str) -> bytes:
        if dek := self._cached(case_id):
            return dek
        caching = self.cache_seconds > 0 and await self._listen()
        generation = self._generation
        row = await self.pool.fetchrow(
            "SELECT k.master_key_id, k.wrapped_key, e.case_id IS NOT NULL AS erased"
            " FROM (SELECT $1::text AS case_id) c"
            " LEFT JOIN case_keys k USING (case_id) LEFT JOIN erased_cases e USING (case_id)",
            case_id,
        )
        if row["erased"]:
            raise CaseErased(case_id)
        if row["wrapped_key"] is None:
            raise NoCaseKey(f"no data key for case {case_id}")
        dek = unseal(self.master.key(row["master_key_id"]), row["wrapped_key"], case_id.encode())
        if caching and generation == self._generation:
            self._keys[case_id] = dek
        return dek

    async def close(self) -> None:
        if self._listening is not None and not self._listening.is_closed():
            await self._listening.close()
        self._listening = None


async def destroy_case_key(conn: asyncpg.Connection, case_id: str) -> None:
    """Crypto-shredding: the wrapped key is deleted (the caller vacuums case_keys so no dead copy stays in
    its files) and every listening process drops its cached copy when the transaction commits."""
    await conn.execute("DELETE FROM case_keys WHERE case_id = $1", case_id)
    await conn.execute("INSERT INTO erased_cases (case_id) VALUES ($1) ON CONFLICT DO NOTHING", case_id)
    await conn.execute("SELECT pg_notify($1, $2)", ERASURES, case_id)


def case_of(context: SerializationContext) -> str | None:
    """The case whose key seals a payload of this workflow or activity (a case's workflow is case-<case_id>);
    None for any other workflow (deliveries, digests), whose payloads are sealed under the master key."""
    workflow_id = getattr(context, "workflow_id", None) or ""
    return workflow_id.removeprefix("case-") if workflow_id.startswith("case-") else None


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, master: MasterKeys, case_keys: CaseKeys, case_id: str | None = None) -> None:
        self.master, self.case_keys, self.case_id = master, case_keys, case_id

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        return EncryptionCodec(self.master, self.case_keys, case_of(context))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self.case_id:
            key_id, key = f"case:{self.case_id}", await self.case_keys.for_encrypt(self.case_id)
        else:
            key_id, key = f"master:{self.master.active}", self.master.key(self.master.active)
        return [
            Payload(
                metadata={"encoding": ENCODING, KEY_ID: key_id.encode(), CIPHER: b"AES-256-GCM"},
                data=seal(key, p.SerializeToString(), key_id.encode()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                marked = Payload()
                marked.CopyFrom(p)
                marked.metadata[PLAINTEXT] = b"1"
                out.append(marked)
                continue
            try:
                out.append(await self._open(p))
            except Undecodable as e:
                out.append(Payload(metadata={"encoding": b"json/plain", UNDECODABLE: str(e).encode()}, data=b""))
        return out

    async def _open(self, p: Payload) -> Payload:
        """A payload decrypted, or Undecodable if no key this deployment holds ever could. A removed master key
        or an unreachable database raises as itself: the task is retried until ops mend it."""
        key_id = p.metadata.get(KEY_ID, b"").decode(errors="replace")
        kind, _, name = key_id.partition(":")
        if kind == "case":
            if self.case_id is not None and name != self.case_id:
                raise Undecodable("encrypted under another case's key")
            try:
                key = await self.case_keys.for_decrypt(name)
            except NoCaseKey:
                raise Undecodable("no such case key") from None
        elif kind == "master" and (name in self.master.keys or self.master.removed(name)):
            key = self.master.key(name)  # (a key of ours since removed raises, for ops: never taken as bad input)
        else:
            raise Undecodable("no key of this deployment")
        try:
            return Payload.FromString(unseal(key, p.data, key_id.encode()))
        except (InvalidTag, ValueError, DecodeError):
            raise Undecodable("not sealed by this deployment") from None


@dataclasses.dataclass(frozen=True)
class _PerCaseConverter(DataConverter):
    """The SDK asks `with_context` for every command's and activity's payloads, in the worker and in clients; its
    own answer rebuilds the payload and failure converters each time (6% of the worker's CPU a command, issue
    #27's profile). Only the codec differs from case to case, so here the answer is a copy with the case's codec,
    kept for the next payload of the same case."""

    _per_case: dict[str | None, DataConverter] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def with_context(self, context: SerializationContext) -> Self:
        codec = self.payload_codec
        converter = self.payload_converter
        if not isinstance(codec, EncryptionCodec) or (
            isinstance(converter, WithSerializationContext) and converter.with_context(context) is not converter
        ):
            return super().with_context(context)  # (more than the codec would differ: the SDK's own answer)
        case_id = case_of(context)
        if case_id == codec.case_id:
            return self
        if (kept := self._per_case.get(case_id)) is None:
            if len(self._per_case) >= PER_CASE_CONVERTERS:
                self._per_case.clear()  # (a bound, not an LRU: one dict operation at a time is safe across threads)
            kept = copy.copy(self)
            object.__setattr__(kept, "payload_codec", codec.with_context(context))
            self._per_case[case_id] = kept
        return cast(Self, kept)


PER_CASE_CONVERTERS = 4096


def encrypted_converter(codec: PayloadCodec) -> DataConverter:
    """The project's converter (pydantic JSON) with the codec, failure messages encrypted too."""
    converter = _PerCaseConverter(
        payload_converter_class=pydantic_data_converter.payload_converter_class,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
    if isinstance(codec, EncryptionCodec):
        converter._per_case[codec.case_id] = converter
    return converter
