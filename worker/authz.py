"""Who may do what: roles from configuration, checked before any command is accepted.

A TOML roles file (EARLYHELP_ROLES_FILE) lists people by role:

    managers = ["tm-patel"]
    screeners = ["das-amir"]
    practitioners = ["lp-kaur"]
    social_workers = ["sw-ahmed"]

    [teams]            # the localities each person works in (the web app shows only these)
    North = ["tm-patel", "lp-kaur"]

    [passwords]        # web sign-in: `earlyhelp hash-password` prints a line for here
    tm-patel = "scrypt$16384$8$1$..."

Screeners (EH Duty and Advice) screen referrals for every locality [000], so
they see every team's cases; everyone else sees their teams' cases and the
cases they lead.

A worker interceptor checks each update's `by` against PERMISSIONS in the
validator stage, so a refused command is never written to history. The
safeguarding signal is never checked: nothing may stop it. Validators do
not run on replay, so changing the roles file never affects running cases.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from worker.config import ConfigError

ROLES = ("managers", "screeners", "practitioners", "social_workers")
EVERYONE = frozenset(ROLES)
# Commands limited to some roles; every other command needs any role.
PERMISSIONS: dict[str, frozenset[str]] = {
    "decide_closure": frozenset({"managers"}),  # permission to close comes from a team manager [003]
    "record_screening": frozenset({"screeners", "managers"}),  # EH Duty and Advice screens [000]
    "allocate": frozenset({"screeners", "managers"}),
    "record_masp_outcome": frozenset({"managers"}),
    "record_social_care_decision": frozenset({"social_workers", "managers"}),
    "identify_lead_practitioner": frozenset({"social_workers", "managers"}),  # step-down [004]
    "record_lead_declined": frozenset({"social_workers", "managers", "practitioners"}),
    "erase": frozenset({"managers"}),  # `earlyhelp erase`, not an update
}


SEES_EVERY_TEAM = frozenset({"screeners"})
TABLES = ("teams", "passwords")
# scrypt's cost: about 50 ms a sign-in on one core, 16 MiB of memory.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class Roles:
    people: dict[str, frozenset[str]]
    # person -> the localities of their teams
    teams: Mapping[str, frozenset[str]] = field(default_factory=dict)
    passwords: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Roles:
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError("EARLYHELP_ROLES_FILE", f"cannot read {path}: {e}") from None
        unknown = set(doc) - set(ROLES) - set(TABLES)
        if unknown:
            raise ConfigError("EARLYHELP_ROLES_FILE", f"unknown role(s) {sorted(unknown)}; roles are {list(ROLES)}"
                              f" and the tables are {list(TABLES)}")
        people: dict[str, set[str]] = {}
        for role in ROLES:
            for person in doc.get(role, []):
                people.setdefault(person, set()).add(role)
        teams: dict[str, set[str]] = {}
        for locality, members in doc.get("teams", {}).items():
            for person in members:
                teams.setdefault(person, set()).add(locality)
        passwords = doc.get("passwords", {})
        strays = (set(teams) | set(passwords)) - set(people)
        if strays:
            raise ConfigError("EARLYHELP_ROLES_FILE", f"{sorted(strays)} in [teams] or [passwords] but in no role")
        return cls({person: frozenset(roles) for person, roles in people.items()},
                   {person: frozenset(localities) for person, localities in teams.items()}, passwords)

    def localities(self, person: str) -> frozenset[str] | None:
        """The localities whose cases `person` sees; None for all of them."""
        if self.people.get(person, frozenset()) & SEES_EVERY_TEAM:
            return None
        return self.teams.get(person, frozenset())

    def may(self, update: str, person: str) -> bool:
        return bool(self.people.get(person, frozenset()) & PERMISSIONS.get(update, EVERYONE))

    def check(self, update: str, by: str) -> None:
        allowed = PERMISSIONS.get(update, EVERYONE)
        held = self.people.get(by, frozenset())
        if not held:
            raise ApplicationError(f"not_authorized: {by!r} has no role in this service", type="NotAuthorized",
                                   non_retryable=True)
        if not held & allowed:
            raise ApplicationError(
                f"not_authorized: {update} needs one of {sorted(allowed)}; {by!r} is {sorted(held)}",
                type="NotAuthorized", non_retryable=True)


def claimed_by(command: Any) -> str | None:
    """The `by` a command claims (commands reach the workflow undecoded: workflows/case.py)."""
    if isinstance(command, RawValue):
        try:
            command = json.loads(command.payload.data)
        except ValueError:
            return None
    by = command.get("by") if isinstance(command, dict) else getattr(command, "by", None)
    return by if isinstance(by, str) else None


class Authorization(Interceptor):
    def __init__(self, roles: Roles) -> None:
        self.roles = roles

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        roles = self.roles

        class CheckRoles(WorkflowInboundInterceptor):
            def handle_update_validator(self, input: HandleUpdateInput) -> None:
                by = claimed_by(input.args[0] if input.args else None)
                if by is not None:  # otherwise the command's own validator refuses it, naming `by`
                    roles.check(input.update, by)
                super().handle_update_validator(input)

        return CheckRoles
