"""Personal data at rest in PostgreSQL, sealed under the case's own data key.

Temporal's payloads are encrypted by the codec; the read model would still hold
a family's names, contacts and free text in the clear, and so would
PostgreSQL's WAL, its table files and every backup. Here each personal value
is sealed as a Temporal payload encoded by the same codec under the case's
serialization context: so it is the case's key that opens it, the erasure of
that key makes it unreadable everywhere at once, and a client without master
keys opens it through the codec server (its person's scope checked, each
decode audited) exactly as it decodes a history.

What stays in the clear is what is never about the family: stages, dates,
codes, outcomes (FACTS), and the ids of other cases (REFS). A family's or
person's reference is sealed like the rest; the read model searches it by
its blind index (`Sealer.blind`, a keyed hash), so no reference is ever
written to PostgreSQL, its WAL or a backup in the clear. An erased case keeps
only the facts, and so the statistics still count it.
"""

from __future__ import annotations

import base64
import json
from typing import Any, get_args

import structlog
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec, WithSerializationContext, WorkflowSerializationContext

from worker.codec import CaseErased
from worker.keys import MasterKeys
from workflows.models import ClosureReason

# Event fields that are facts about the process, never about the family: kept after an erasure.
FACTS = frozenset(
    {
        "route",
        "locality",
        "recommendation",
        "decision",
        "to",
        "from",
        "kind",
        "due_at",
        "reminder_at",
        "completed_at",
        "escalated_to",
        "method",
        "outcome",
        "time_of_day",
        "attempt",
        "visit",
        "letter_left",
        "agreement_given",
        "genogram_started",
        "children_seen",
        "scaling",
        "virtual",
        "review_date",
        "next_review_date",
        "held_at",
        "approve",
        "closure_reason",
        "criteria",
        "final_stage",
        "accepted",
        "previous_referrals",
        "immediate_safeguarding",
        "consent_given",
        "lead_practitioner",
        "practitioner",
        "chosen_by_family",
        "reallocation",
        "resume_stage",
        "stage",
        "malformed",
        "re_referral",
        "version",
        "paused",
        "significant",
        "keyed_by",
    }
)
# The ids of a family's earlier cases (a re-referral's), in the clear; a family's and a person's own
# references are sealed, and searched by their blind indexes.
REFS = frozenset({"cases", "open_cases"})
PUBLIC_FIELDS = FACTS | REFS
# ...and `reason` where it is a code, not free text: always for these events; for a case's end, when its
# reason is a closure reason (a signposted case's names the services, in the screener's words: sealed).
REASON_IS_A_CODE = frozenset({"ClosureRequested"})
CLOSURE_REASONS = frozenset(get_args(ClosureReason))
SEALED = "sealed"  # the key, in an event's data, of its personal fields
TEXT_PREFIX = "sealed:"  # a sealed text column
ERASED = "[erased]"


def coded_reason(event_type: str, value: Any) -> bool:
    return event_type in REASON_IS_A_CODE or (event_type == "CaseEnded" and value in CLOSURE_REASONS)


def public_part(event_type: str, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split event data into what may stay in the clear and what is personal."""
    public, personal = {}, {}
    for key, value in data.items():
        clear = key in PUBLIC_FIELDS or (key == "reason" and coded_reason(event_type, value))
        (public if clear else personal)[key] = value
    return public, personal


class Sealer:
    """Seal and open a case's personal values with a payload codec (None: stored in the clear, no keys)."""

    def __init__(self, codec: PayloadCodec | None) -> None:
        self.codec = codec

    def _for(self, case_id: str) -> PayloadCodec:
        assert self.codec is not None
        if isinstance(self.codec, WithSerializationContext):
            context = WorkflowSerializationContext(namespace="", workflow_id=f"case-{case_id}")
            return self.codec.with_context(context)  # type: ignore[return-value]
        return self.codec

    async def ready(self, case_id: str) -> None:
        """The case's key made or read now: a caller about to hold a connection of the pool (a transaction) must
        not need another for the key while it does (under load every connection would wait on another)."""
        if self.codec is not None:
            await self.seal(case_id, None)

    async def seal(self, case_id: str, value: Any) -> str:
        plain = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())
        [sealed] = await self._for(case_id).encode([plain])
        return base64.b64encode(sealed.SerializeToString()).decode()

    async def open(self, case_id: str, sealed: str) -> Any:
        [plain] = await self._for(case_id).decode([Payload.FromString(base64.b64decode(sealed))])
        return json.loads(plain.data)

    async def seal_data(self, case_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        if self.codec is None:
            return data
        public, personal = public_part(event_type, data)
        if personal:
            public[SEALED] = await self.seal(case_id, personal)
        return public

    async def open_data(self, case_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """An event's data whole again; an erased case's public part only."""
        if SEALED not in data or self.codec is None:
            return {k: v for k, v in data.items() if k != SEALED}
        public = {k: v for k, v in data.items() if k != SEALED}
        try:
            return {**public, **await self.open(case_id, data[SEALED])}
        except UNREADABLE as e:
            unreadable(case_id, e)
            return public

    def blind(self, reference: str) -> str:
        """The blind index of a family's or person's reference, as the read model keeps and searches it (the
        reference itself where there are no keys, as every value then is)."""
        master = getattr(self.codec, "master", None)
        return master.blind(reference) if isinstance(master, MasterKeys) else reference

    async def seal_bytes(self, case_id: str, content: bytes) -> bytes:
        """A file's bytes sealed as one payload (serialized), or as they are where there are no keys."""
        if self.codec is None:
            return content
        plain = Payload(metadata={"encoding": b"binary/plain"}, data=content)
        [sealed] = await self._for(case_id).encode([plain])
        return sealed.SerializeToString()

    async def open_bytes(self, case_id: str, sealed: bytes) -> bytes:
        if self.codec is None:
            return sealed
        [plain] = await self._for(case_id).decode([Payload.FromString(sealed)])
        return plain.data

    async def seal_text(self, case_id: str, text: str) -> str:
        return text if self.codec is None else TEXT_PREFIX + await self.seal(case_id, text)

    async def open_text(self, case_id: str, text: str) -> str:
        if not text.startswith(TEXT_PREFIX) or self.codec is None:
            return text
        try:
            return await self.open(case_id, text.removeprefix(TEXT_PREFIX))
        except UNREADABLE as e:
            unreadable(case_id, e)
            return ERASED if isinstance(e, CaseErased) else UNOPENED


PLAIN = Sealer(None)
# An erased case; or a key this process does not hold (a master key removed after a rotation, another
# service's data): one case's values are left out, never a whole page or list lost.
UNREADABLE = (CaseErased, KeyError, InvalidTag)
UNOPENED = "[cannot be opened here]"
log = structlog.get_logger("earlyhelp.sealing")


def unreadable(case_id: str, error: Exception) -> None:
    if not isinstance(error, CaseErased):
        log.warning("sealed values not opened", case_id=case_id, error_type=type(error).__name__)
