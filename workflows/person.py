"""A family member's details and the family's relationships (the family record): what a practitioner needs to
run a case, each field checked as the council's systems check it, every refusal naming the field.

Names are taken in any script, with hyphens and apostrophes, and a person may have a single name. The NHS
number's check digit (modulus 11) and the UPN's check letter (the DfE's modulus 23) are verified; a postcode
must be a UK postcode. Dates are bounded here; that a date of birth is not in the future is a rule of the
pathway (it knows when the record is made).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from workflows.bounds import Contact, Id, Name, OptionalReason

Gender = Literal["female", "male", "non_binary", "other", "not_known", "prefer_not_to_say"]
# The DfE's ethnicity codes (school census and CIN census main categories), with not obtained and refused.
Ethnicity = Literal[
    "WBRI", "WIRI", "WIRT", "WOTH", "WROM",
    "MWBC", "MWBA", "MWAS", "MOTH",
    "AIND", "APKN", "ABAN", "AOTH",
    "BCRB", "BAFR", "BOTH",
    "CHNE", "OOTH",
    "REFU", "NOBT",
]  # fmt: skip
RelationshipKind = Literal[
    "parent", "step_parent", "carer", "sibling", "half_sibling", "grandparent", "partner", "other"
]  # fmt: skip

_POSTCODE = re.compile(
    r"^(GIR ?0AA|[A-PR-UWYZ]([0-9]{1,2}|[A-HK-Y][0-9]([0-9ABEHMNPRV-Y])?|[0-9][A-HJKPS-UW]) ?[0-9][ABD-HJLNP-UW-Z]{2})$"
)
_PHONE = re.compile(r"^\+?[0-9 ()-]{7,24}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # the DfE's check letters: no I, O or S


def _postcode(value: str) -> str:
    compact = re.sub(r"\s+", "", value.upper())
    if not _POSTCODE.match(compact):
        raise ValueError("must be a UK postcode, e.g. LS1 4AP")
    return f"{compact[:-3]} {compact[-3:]}"


def _phone(value: str) -> str:
    if not _PHONE.match(value.strip()) or not 10 <= sum(c.isdigit() for c in value) <= 15:
        raise ValueError("must be a phone number of 10 to 15 digits (spaces, brackets, - and a leading + allowed)")
    return value.strip()


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("must be an email address")
    return value


def nhs_number_valid(digits: str) -> bool:
    """Modulus 11: the weighted sum of the first nine digits gives the tenth (10 is never valid)."""
    if not re.fullmatch(r"[0-9]{10}", digits):
        return False
    check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(digits[:9])) % 11
    return (0 if check == 11 else check) == int(digits[9])


def _nhs_number(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value)
    if not nhs_number_valid(digits):
        raise ValueError("must be a 10-digit NHS number whose check digit is right")
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def upn_valid(upn: str) -> bool:
    """The DfE's UPN: a check letter, then 12 characters (the last a letter for a temporary UPN); the letter
    is the weighted sum (weights 2 to 13) of the others, modulus 23."""
    if not re.fullmatch(rf"[{_UPN_LETTERS}][0-9]{{11}}[0-9{_UPN_LETTERS}]", upn):
        return False
    values = [int(c) if c.isdigit() else _UPN_LETTERS.index(c) for c in upn[1:]]
    return _UPN_LETTERS[sum(v * w for v, w in zip(values, range(2, 14), strict=True)) % 23] == upn[0]


def _upn(value: str) -> str:
    upn = value.strip().upper()
    if not upn_valid(upn):
        raise ValueError("must be a 13-character UPN whose check letter is right")
    return upn


def _born(value: date) -> date:
    if not date(1900, 1, 1) <= value < date(2100, 1, 1):
        raise ValueError("must be from 1900 and before 2100")
    return value


Postcode = Annotated[str, Field(max_length=10), AfterValidator(_postcode)]
Phone = Annotated[str, Field(max_length=30), AfterValidator(_phone)]
Email = Annotated[Contact, AfterValidator(_email)]
NhsNumber = Annotated[str, Field(max_length=14), AfterValidator(_nhs_number)]
Upn = Annotated[str, Field(max_length=15), AfterValidator(_upn)]
BirthDate = Annotated[date, AfterValidator(_born)]


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[Name] = Field(min_length=1, max_length=5)
    postcode: Postcode


class PersonDetails(BaseModel):
    """A member's personal details: sealed at rest under the case's key, never in search attributes or logs."""

    model_config = ConfigDict(extra="forbid")
    given_name: Name | None = None
    family_name: Name | None = None  # (a person may have one name only)
    preferred_name: Name | None = None
    date_of_birth: BirthDate | None = None
    expected_date: BirthDate | None = Field(None, description="an unborn child's expected date of birth")
    gender: Gender | None = None
    address: Address | None = None
    phone: Phone | None = None
    email: Email | None = None
    nhs_number: NhsNumber | None = None
    upn: Upn | None = Field(None, description="the Unique Pupil Number")
    school: Name | None = Field(None, description="school or early years setting")
    gp: Name | None = Field(None, description="GP practice")
    language: Name | None = Field(None, description="first language")
    interpreter_needed: bool | None = None
    ethnicity: Ethnicity | None = None
    disability: OptionalReason | None = Field(None, description="disability or special educational needs")

    def given(self) -> dict[str, object]:
        """The details given (the rest left as they were)."""
        return self.model_dump(mode="json", exclude_none=True)


class Relationship(BaseModel):
    """How two members of the family are related: `from_ref` is the `kind` of `to_ref` (a parent of, ...)."""

    model_config = ConfigDict(extra="forbid")
    from_ref: Id
    to_ref: Id
    kind: RelationshipKind


def relationship_problem(relationship: Relationship, members: list[str]) -> str | None:
    """Why a relationship cannot be recorded between these members (None: it can)."""
    unknown = [r for r in (relationship.from_ref, relationship.to_ref) if r not in members]
    if unknown:
        return f"{', '.join(repr(u) for u in unknown)} is not a member of this family"
    if relationship.from_ref == relationship.to_ref:
        return "a relationship is between two different members"
    return None
