"""Search attributes: what the Web UI, `earlyhelp list` and ops can filter cases by.

Ids, stages, localities and dates only: they are stored in plain text, so
never a name, address or date of birth (docs/data-protection.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
LOCALITY = SearchAttributeKey.for_keyword("Locality")
LEAD_PRACTITIONER = SearchAttributeKey.for_keyword("LeadPractitioner")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
KEYS = (CASE_STAGE, LOCALITY, LEAD_PRACTITIONER, NEXT_DEADLINE)
# Set while a save cannot succeed (a data error, not an outage): `earlyhelp doctor` lists these cases.
NEEDS_ATTENTION = SearchAttributeKey.for_bool("NeedsAttention")
REGISTERED = (*KEYS, NEEDS_ATTENTION)

Values = tuple[str, str, str | None, datetime | None]


def updates(values: Values) -> list[SearchAttributeUpdate[Any]]:
    out: list[SearchAttributeUpdate[Any]] = []
    for key, value in zip(KEYS, values, strict=True):
        out.append(key.value_set(value) if value is not None else key.value_unset())  # type: ignore[attr-defined]
    return out
