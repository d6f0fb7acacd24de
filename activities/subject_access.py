"""One person's record across cases: the person view, and the subject access export (issue #25).

A person is found by their reference's blind index among each case's people, so a re-referral keyed with the
same reference is found too. Every event of those cases is part of their record (the engine's deadline
bookkeeping aside): the family's case is about each of its members. Other people are redacted: another
member's reference becomes "another person", their details and a referrer's name and contact are left out.
Free text (notes, concerns, the assessment) is kept as written and is checked by hand before release, as are
the documents kept on a case (listed, not released: a file can hold anyone's words).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from activities import read_model
from activities.chronology import BOOKKEEPING, chronology
from worker.sealing import Sealer
from workflows.calendar import LONDON
from workflows.models import Event

OTHER = "[another person]"
CHECK_BEFORE_RELEASE = (
    "Check before release: free text (notes, concerns, the assessment, reasons) is as it was written and may name"
    " other people; the documents kept are listed, not included, and are reviewed by hand."
)


class CaseRecord(BaseModel):
    case_id: str
    locality: str
    stage: str
    role: str
    received_at: datetime | None
    ended_at: datetime | None
    events: list[Event]
    documents: list[dict[str, Any]]


class PersonRecord(BaseModel):
    person_ref: str
    made_at: datetime
    check_before_release: str = CHECK_BEFORE_RELEASE
    cases: list[CaseRecord]


def redacted(value: Any, others: set[str]) -> Any:
    """`value` with other people left out: their references, their details, a referrer's name and contact."""
    if isinstance(value, dict):
        if value.get("person_ref") in others:  # another member: who they are to the family, nothing more
            return {"person_ref": OTHER, **({"role": value["role"]} if "role" in value else {})}
        kept = {k: redacted(v, others) for k, v in value.items()}
        if "agency" in kept and ("name" in kept or "contact" in kept):  # a referrer: their agency only
            kept = {k: v for k, v in kept.items() if k not in ("name", "contact")}
        return kept
    if isinstance(value, list):
        return [redacted(v, others) for v in value]
    return OTHER if isinstance(value, str) and value in others else value


def _people_of(events: list[Event]) -> set[str]:
    refs = set()
    for e in events:
        people = e.data.get("people", []) if e.type == "CaseReferred" else [e.data.get("member") or {}]
        refs |= {p["person_ref"] for p in people if isinstance(p, dict) and isinstance(p.get("person_ref"), str)}
    return refs


async def person_record(
    conn: asyncpg.Connection,
    person_ref: str,
    sealer: Sealer,
    visible: Callable[[str, str | None], bool],
    now: datetime,
) -> PersonRecord:
    """Every case of `person_ref` the viewer may see (`visible(locality, lead)`), the latest first."""
    rows = await conn.fetch(
        "SELECT c.case_id, c.locality, c.lead_practitioner, c.stage, c.received_at, c.ended_at, p.role"
        " FROM case_people p JOIN cases c USING (case_id) WHERE p.person_ref = $1 ORDER BY c.received_at DESC",
        sealer.blind(person_ref),
    )
    cases = []
    for r in rows:
        if not visible(r["locality"], r["lead_practitioner"]):
            continue
        events = await read_model.timeline(conn, r["case_id"], sealer)
        others = _people_of(events) - {person_ref}
        kept = await conn.fetch(
            "SELECT document_id, content_type, size, stored_at FROM case_files WHERE case_id = $1 ORDER BY stored_at",
            r["case_id"],
        )
        cases.append(
            CaseRecord(
                case_id=r["case_id"],
                locality=r["locality"],
                stage=r["stage"],
                role=r["role"],
                received_at=r["received_at"],
                ended_at=r["ended_at"],
                events=[
                    e.model_copy(update={"data": redacted(e.data, others)}) for e in events if e.type not in BOOKKEEPING
                ],
                documents=[dict(k) for k in kept],
            )
        )
    return PersonRecord(person_ref=person_ref, made_at=now, cases=cases)


def as_text(record: PersonRecord) -> str:
    """The record in plain words, for the PDF: each case, then its chronology, then the documents kept."""
    lines = [CHECK_BEFORE_RELEASE, ""]
    if not record.cases:
        lines.append("No case you may see holds this person.")
    for case in record.cases:
        received = f"received {case.received_at.astimezone(LONDON):%-d %B %Y}" if case.received_at else ""
        ended = f", closed {case.ended_at.astimezone(LONDON):%-d %B %Y}" if case.ended_at else ", open"
        lines += [f"Case {case.case_id} ({case.locality}, {received}{ended}): {case.role}", ""]
        lines += [f"{entry.when}  {entry.what}" for entry in chronology(case.events)]
        lines += ["", f"Documents kept on the case: {len(case.documents)} (reviewed by hand before release)", ""]
    return "\n".join(lines)


async def audited(conn: asyncpg.Connection, record: PersonRecord, by: str, what: str) -> None:
    """One audit row a case shown (the person's reference is sealed everywhere, so it is not written here)."""
    await conn.executemany(
        "INSERT INTO audit_log (actor, action, case_id, reason) VALUES ($1, $2, $3, $4)",
        [(by, what, case.case_id, "one person's record (subject access)") for case in record.cases],
    )
