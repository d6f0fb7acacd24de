"""The bounds every input must keep: one definition, used by every model.

Text is bounded by what it holds and may not carry control characters (but
newline and tab; a browser's CRLF is read as a newline): PostgreSQL refuses
NUL, and a case must stay far below Temporal's limits (2 MB a payload,
50 MB a history) whatever a client sends. Numbers and dates are bounded the
same way. The JSON Schemas (`earlyhelp schema`) show each bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

# Control characters but tab and newline, C1 controls included (lone surrogates never decode from JSON).
PRINTABLE = r"^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*$"
# Staff ids, person and family refs: no spaces, so a full name cannot pass for an id
# (ids sit in plain-text search attributes: docs/data-protection.md).
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:/-]*$"

EARLIEST = datetime(2000, 1, 1).date()
LATEST = datetime(2100, 1, 1).date()


def _crlf(value: Any) -> Any:
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


def _text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[
        str, StringConstraints(min_length=min_length, max_length=max_length, pattern=PRINTABLE), BeforeValidator(_crlf)
    ]


def _in_range(value: date | datetime) -> date | datetime:
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST <= day < LATEST:
        raise ValueError(f"must be from {EARLIEST} and before {LATEST}")
    return value


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
Name = _text(200, 1)  # a person's name, an agency, a service
Contact = _text(320, 1)  # an email address or a phone number
Reason = _text(2_000, 1)  # a short reason or one statement of an assessment
OptionalReason = _text(2_000)
Summary = _text(10_000, 1)  # a summary, a note, a concern's details
OptionalSummary = _text(10_000)

Day = Annotated[date, AfterValidator(_in_range)]
When = Annotated[AwareDatetime, AfterValidator(_in_range)]

# How many items a list may hold.
FEW = 20  # services, sources, criteria, attendees' agencies
SOME = 50  # members of a family, statements of an assessment, attendees
MANY = 100  # actions of a plan


@dataclass(frozen=True)
class DurationBetween:
    """Metadata for `Annotated[timedelta, DurationBetween(low, high)]`: the bounds, checked and described."""

    low: timedelta
    high: timedelta

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), "description": f"an ISO 8601 duration from {self.low} to {self.high}"}

    def _check(self, value: timedelta) -> timedelta:
        if not self.low <= value <= self.high:
            raise ValueError(f"must be between {self.low} and {self.high}")
        return value


_PATTERN_MEANS = MappingProxyType(
    {
        PRINTABLE: "control characters are not allowed (newline and tab are)",
        ID_PATTERN: "must be an id: letters, digits and . _ - @ : / without spaces",
    }
)


def _shown(part: object) -> str:
    """A field's name as sent (an extra field's name is the client's own text): printable, short."""
    text = "".join(c if c.isprintable() else "?" for c in str(part))
    return text if len(text) <= 64 else text[:61] + "..."


M = TypeVar("M", bound=BaseModel)


CONCERN_LIMIT = 10_000  # a concern's details: Summary's bound
SHOWN_FOR_CONTROL = "\ufffd"  # what a control character in a concern becomes, visibly
_CONTROL = re.compile(r"[\x00-\x08\x0B-\x1F\x7F-\x9F]")  # what PRINTABLE refuses


def concern_parts(details: str) -> list[str]:
    """A safeguarding concern's details as the concerns to send, never refused for what they hold: each control
    character (but newline and tab) replaced visibly, and text over the bound split into numbered parts, whole.
    Every door that takes a concern from a person (web form, CLI) sends these."""
    text = _CONTROL.sub(SHOWN_FOR_CONTROL, details.replace("\r\n", "\n"))
    if len(text) <= CONCERN_LIMIT:
        return [text]
    size = CONCERN_LIMIT - 40  # room for the part's label
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    return [f"(part {n} of {len(chunks)}) {chunk}" for n, chunk in enumerate(chunks, start=1)]


def decoded(model: type[M], data: bytes, undecodable: bytes | None) -> M:
    """A model from a payload's JSON. A payload the codec could not decrypt (`undecodable`: its reason, from
    workflows/interfaces.py UNDECODABLE) is refused as any malformed input is, by a validation error."""
    if undecodable is not None:
        reason = undecodable.decode(errors="replace")
        error = ValueError(f"could not be decrypted ({reason}): send it again through earlyhelp or the web app")
        raise ValidationError.from_exception_data(
            model.__name__, [{"type": "value_error", "loc": ("payload",), "input": None, "ctx": {"error": error}}]
        )
    return model.model_validate_json(data)


def refusal(error: ValidationError, limit: int = 10) -> str:
    """Each bad field and its rule, never the value sent (it may be 3 MB, or a family's details)."""
    lines = []
    for e in error.errors(include_url=False, include_input=False)[:limit]:
        where = ".".join(_shown(p) for p in e["loc"]) or "(the whole input)"
        pattern = str((e.get("ctx") or {}).get("pattern"))
        message = _PATTERN_MEANS.get(pattern, e["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    more = error.error_count() - limit
    return "; ".join(lines) + (f"; and {more} more" if more > 0 else "")
