"""Finding a person without exposing them: the blind indexes of a member's details, and the search on them.

Each member's family and given names (normalised: no accents, case or punctuation), a phonetic key of the
family name (Metaphone, so "Smyth" finds "Smith"), date of birth, postcode, NHS number and UPN are kept in
`person_index` only as keyed hashes (`Sealer.blind`, under the index key kept with the master keys), one row
per case, person and value. A search hashes what it looks for the same way. No name is indexed in the clear;
erasure deletes a case's rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from datetime import date
from typing import Any

import asyncpg
import jellyfish
from pydantic import BaseModel, ConfigDict, Field

from worker.sealing import PLAIN, Sealer


def plain_name(name: str) -> str:
    """A name as it is compared: letters only, no accents, lower case ("Ó Briain-Nowak" -> "obriainnowak")."""
    letters = unicodedata.normalize("NFKD", name)
    return "".join(c for c in letters if c.isalpha() and not unicodedata.combining(c)).casefold()


def sounds(name: str) -> str:
    """The family name's phonetic key (Metaphone of its Latin letters; a name in another script as it is)."""
    plain = plain_name(name)
    latin = re.sub(r"[^a-z]", "", plain)
    return jellyfish.metaphone(latin) if latin else plain


def keys_of(details: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, normalised value) of what a member's details let a person be found by."""
    keys: list[tuple[str, str]] = []
    if family := details.get("family_name"):
        keys += [("family", plain_name(family)), ("sounds", sounds(family))]
    for given in (details.get("given_name"), details.get("preferred_name")):
        if given:
            keys.append(("given", plain_name(given)))
    if born := details.get("date_of_birth"):
        keys.append(("born", str(born)))
    if (address := details.get("address")) and address.get("postcode"):
        keys.append(("postcode", address["postcode"].replace(" ", "").upper()))
    if nhs := details.get("nhs_number"):
        keys.append(("nhs", re.sub(r"\D", "", nhs)))
    if upn := details.get("upn"):
        keys.append(("upn", upn.upper()))
    return keys


def identities(people: list[dict[str, Any]]) -> list[list[tuple[str, str]]]:
    """What makes a referred member the same person as one indexed before: each identity's (kind, value)
    parts, any one identity enough alone: an NHS number, a UPN, or family name, given (or preferred) name and
    date of birth together. A family name's sound alone is never an identity."""
    sets: list[list[tuple[str, str]]] = []
    for details in people:
        keys = keys_of(details)
        found = {kind: [v for k, v in keys if k == kind] for kind in ("nhs", "upn", "family", "given", "born")}
        sets += [[("nhs", v)] for v in found["nhs"]] + [[("upn", v)] for v in found["upn"]]
        for family in found["family"]:
            for born in found["born"]:
                sets += [[("family", family), ("given", given), ("born", born)] for given in found["given"]]
    return sets


# The people in the index holding every part asked ($1 kinds, $2 blind values, the most telling first; $3 the
# distinct kinds after the first): driven from the first part's few rows, each then checked for the others by
# the primary key, so a common family name's thousands of rows are never read.
HOLDING_EVERY_PART = (
    "SELECT d.case_id, d.person FROM person_index d WHERE d.kind = ($1::text[])[1] AND d.value = ($2::text[])[1]"
    " AND (SELECT count(DISTINCT o.kind) FROM person_index o"
    "      JOIN unnest(($1::text[])[2:], ($2::text[])[2:]) AS w(kind, value) ON o.kind = w.kind AND o.value = w.value"
    "      WHERE o.case_id = d.case_id AND o.person = d.person) = $3"
)


def most_telling_first(parts: list[tuple[str, str]], sealer: Sealer) -> tuple[list[str], list[str], int]:
    """HOLDING_EVERY_PART's first three arguments for `parts`."""
    parts = sorted(parts, key=lambda part: SELECTIVE.index(part[0]))
    kinds = [kind for kind, _ in parts]
    return kinds, [sealer.blind(f"{kind}:{value}") for kind, value in parts], len(set(kinds[1:]))


async def index_person(
    conn: asyncpg.Connection, case_id: str, person_ref: str, details: dict[str, Any] | None, sealer: Sealer
) -> None:
    """Add a member's details to the index (a value that changes keeps its old row too: found by either)."""
    rows = [
        (case_id, sealer.blind(person_ref), kind, sealer.blind(f"{kind}:{value}"))
        for kind, value in keys_of(details or {})
        if value
    ]
    await conn.executemany(
        "INSERT INTO person_index (case_id, person, kind, value) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", rows
    )


# The parts of a search from the most telling (fewest people share one) to the least.
SELECTIVE = ("nhs", "upn", "born", "postcode", "given", "sounds", "family")


class PersonSearch(BaseModel):
    """What a person is looked for by: every part given must match (a family name by how it sounds)."""

    model_config = ConfigDict(extra="forbid")
    family_name: str | None = Field(None, max_length=200)
    given_name: str | None = Field(None, max_length=200)
    date_of_birth: date | None = None
    postcode: str | None = Field(None, max_length=10)
    nhs_number: str | None = Field(None, max_length=14)
    upn: str | None = Field(None, max_length=15)

    def keys(self) -> list[tuple[str, str]]:
        wanted = keys_of(
            {
                "family_name": self.family_name,
                "given_name": self.given_name,
                "date_of_birth": self.date_of_birth,
                "address": {"postcode": self.postcode} if self.postcode else None,
                "nhs_number": self.nhs_number,
                "upn": self.upn,
            }
        )
        return [(kind, value) for kind, value in wanted if kind != "family" and value]  # (sounds covers it)


async def find_people(
    conn: asyncpg.Connection,
    search: PersonSearch,
    *,
    scope: Collection[str] | None,
    lead_or_scope: str | None = None,
    sealer: Sealer = PLAIN,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The people matching every part of `search`, with their case (open or closed), in cases the person
    searching may see (`scope`: their localities, None all; `lead_or_scope`: the cases they lead too)."""
    wanted = search.keys()
    if not wanted:
        return []
    rows = await conn.fetch(
        "SELECT c.case_id, c.stage, c.locality, c.lead_practitioner AS lead, c.ended_at, p.person_sealed, p.role"
        f" FROM ({HOLDING_EVERY_PART}) found"
        " JOIN cases c USING (case_id)"
        " LEFT JOIN case_people p ON p.case_id = found.case_id AND p.person_ref = found.person"
        " WHERE $4::text[] IS NULL OR c.locality = ANY($4) OR c.lead_practitioner = $5"
        " ORDER BY c.ended_at IS NOT NULL, c.received_at DESC LIMIT $6",
        *most_telling_first(wanted, sealer),
        None if scope is None else sorted(scope),
        lead_or_scope,
        limit,
    )
    found = []
    for r in rows:
        row = dict(r)
        sealed = row.pop("person_sealed")
        row["person_ref"] = await sealer.open_text(row["case_id"], sealed) if sealed else None
        found.append(row)
    return found


def members_of(people: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, Any] | None]]:
    """(person_ref, details) of a referral's or an added member's data."""
    return [(p["person_ref"], p.get("details")) for p in people if p.get("person_ref")]


async def audit_found(conn: asyncpg.Connection, found: list[dict[str, Any]], by: str, door: str) -> None:
    """A search is a read of every case it shows: one audit row a case found (what was searched for is not
    written: it is a person's details)."""
    await conn.executemany(
        "INSERT INTO audit_log (actor, action, case_id, reason) VALUES ($1, 'found by a search', $2, $3)",
        [(by, case_id, f"{door}: Find a person") for case_id in dict.fromkeys(r["case_id"] for r in found)],
    )
