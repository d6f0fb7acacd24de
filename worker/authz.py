"""Who may do what: roles from configuration, checked before any command is accepted.

A TOML roles file (EARLYHELP_ROLES_FILE) lists people by role:

    managers = ["tm-patel"]
    screeners = ["das-amir"]
    practitioners = ["lp-kaur"]
    social_workers = ["sw-ahmed"]
    mash = ["mash-obi"]  # the MASH team: acknowledges referrals on the web app's MASH queue

    [teams]            # the localities each person works in (the web app shows only these)
    North = ["tm-patel", "lp-kaur"]

    [passwords]        # web sign-in: `earlyhelp hash-password` prints a line for here
    tm-patel = "scrypt$16384$8$1$..."

    [staff]            # how letters to families name a practitioner
    lp-kaur = { name = "Simran Kaur", team = "North Early Help team", phone = "0113 496 0000" }

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

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from worker.config import ConfigError
from worker.identity import Binding, NotAuthenticated, Verifier, payload_hash, token_from
from workflows.interfaces import PLAINTEXT

ROLES = ("managers", "screeners", "practitioners", "social_workers", "mash")
# Early Help's own staff: every case command not limited below is theirs. The MASH team (children's
# social care's front door) only acknowledges the referrals it receives (workflows/mash.py).
EVERYONE = frozenset(ROLES) - {"mash"}
# Commands limited to some roles; every other command needs any role.
PERMISSIONS: dict[str, frozenset[str]] = {
    "decide_closure": frozenset({"managers"}),  # permission to close comes from a team manager [003]
    "record_screening": frozenset({"screeners", "managers"}),  # EH Duty and Advice screens [000]
    "allocate": frozenset({"screeners", "managers"}),
    "record_masp_outcome": frozenset({"managers"}),
    "record_social_care_decision": frozenset({"social_workers", "managers"}),
    "identify_lead_practitioner": frozenset({"social_workers", "managers"}),  # step-down [004]
    "record_lead_declined": frozenset({"social_workers", "managers", "practitioners"}),
    "transfer_locality": frozenset({"managers"}),  # moves the case to another team [DOMAIN 9]
    "record_supervision": frozenset({"managers"}),  # a manager supervises the lead practitioner's work
    "erase": frozenset({"managers"}),  # `earlyhelp erase`, not an update
    "view": frozenset(ROLES),  # read a case (the MASH team reads the cases referred to it)
    "acknowledge": frozenset({"mash"}),  # a MASH referral, on the MASH queue (MashReferralWatch's update)
}


SEES_EVERY_TEAM = frozenset({"screeners", "mash"})
TABLES = ("teams", "passwords", "oidc", "emails", "staff")
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
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


def _staff(table: Any) -> dict[str, dict[str, str]]:
    """The [staff] table: each id's name, team and phone, as text (a bad entry is a configuration error)."""
    staff = {}
    for person, entry in table.items():
        if not isinstance(entry, dict) or set(entry) - {"name", "team", "phone"}:
            raise ConfigError(
                "EARLYHELP_ROLES_FILE",
                f"[staff] {person}: give name, team and phone, e.g."
                ' { name = "Jo Jones", team = "North Early Help team", phone = "0113 496 0000" }',
            )
        staff[person] = {k: str(v) for k, v in entry.items()}
    return staff


@dataclass(frozen=True)
class Roles:
    people: dict[str, frozenset[str]]
    # person -> the localities of their teams
    teams: Mapping[str, frozenset[str]] = field(default_factory=dict)
    passwords: Mapping[str, str] = field(default_factory=dict)
    # the identity provider's user (EARLYHELP_OIDC_CLAIM's value) -> staff id, for council sign-in (web/oidc.py)
    oidc: Mapping[str, str] = field(default_factory=dict)
    # staff ids and mailboxes (`manager:<locality>`, `mash`, `eha_coordinator`) -> email addresses, for delivery
    emails: Mapping[str, str] = field(default_factory=dict)
    # staff ids -> how letters name them: {name, team, phone} (a letter to a family never shows a staff id)
    staff: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Roles:
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError("EARLYHELP_ROLES_FILE", f"cannot read {path}: {e}") from None
        unknown = set(doc) - set(ROLES) - set(TABLES)
        if unknown:
            raise ConfigError(
                "EARLYHELP_ROLES_FILE",
                f"unknown role(s) {sorted(unknown)}; roles are {list(ROLES)} and the tables are {list(TABLES)}",
            )
        people: dict[str, set[str]] = {}
        for role in ROLES:
            for person in doc.get(role, []):
                people.setdefault(person, set()).add(role)
        teams: dict[str, set[str]] = {}
        for locality, members in doc.get("teams", {}).items():
            for person in members:
                teams.setdefault(person, set()).add(locality)
        passwords, oidc = doc.get("passwords", {}), doc.get("oidc", {})
        strays = (set(teams) | set(passwords) | set(oidc.values())) - set(people)
        if strays:
            raise ConfigError(
                "EARLYHELP_ROLES_FILE", f"{sorted(strays)} in [teams], [passwords] or [oidc] but in no role"
            )
        return cls(
            {person: frozenset(roles) for person, roles in people.items()},
            {person: frozenset(localities) for person, localities in teams.items()},
            passwords,
            oidc,
            doc.get("emails", {}),
            _staff(doc.get("staff", {})),
        )

    def localities(self, person: str) -> frozenset[str] | None:
        """The localities whose cases `person` sees; None for all of them (a screener, or a roles file
        that has no [teams] at all)."""
        if not self.teams or self.people.get(person, frozenset()) & SEES_EVERY_TEAM:
            return None
        return self.teams.get(person, frozenset())

    def may(self, update: str, person: str) -> bool:
        return bool(self.people.get(person, frozenset()) & PERMISSIONS.get(update, EVERYONE))

    def check(self, update: str, by: str, case: Scope | None = None) -> None:
        """The one definition of who may do what to which case: a role for the command, and the case in
        their teams' localities or led by them (screeners: every locality). Used by the worker, the web
        app, `erase` and the codec server."""
        allowed = PERMISSIONS.get(update, EVERYONE)
        held = self.people.get(by, frozenset())
        if not held:
            raise NotAuthorized(f"{by!r} has no role in this service")
        if not held & allowed:
            raise NotAuthorized(f"{update} needs one of {sorted(allowed)}; {by!r} is {sorted(held)}")
        if case is not None and not in_scope(self.localities(by), by, case):
            raise NotAuthorized(
                f"{by!r} works in {sorted(self.localities(by) or [])}; case {case.case_id} is in "
                f"{case.locality} and led by someone else"
            )

    def check_staff(self, command: Any, route: str, locality: str | None = None) -> None:
        """People a command names as lead are people of the service in a lead's role, and of the case's
        locality where teams are configured [DOMAIN 9]."""
        for name in STAFF_FIELDS:
            person = command.get(name) if isinstance(command, dict) else None
            if not isinstance(person, str):
                continue
            if not self.people.get(person, frozenset()) & LEADS[route]:
                raise NotAuthorized(
                    f"{name}: {person!r} is not one of the service's {' or '.join(sorted(LEADS[route]))}"
                )
            works_in = self.localities(person)
            if locality is not None and works_in is not None and locality not in works_in:
                raise NotAuthorized(
                    f"{name}: {person!r} works in {sorted(works_in)}, not in {locality} where the case is"
                )


class NotAuthorized(ApplicationError):
    def __init__(self, why: str) -> None:
        super().__init__(f"not_authorized: {why}", type="NotAuthorized", non_retryable=True)


# Fields of a command that name a member of staff who must exist, and the roles a lead may hold.
STAFF_FIELDS = ("lead_practitioner", "practitioner")
LEADS = {"referral": frozenset({"practitioners"}), "step_down": frozenset({"practitioners", "social_workers"})}


@dataclass(frozen=True)
class Scope:
    """What decides who may act on a case: where it is and who leads it."""

    case_id: str
    locality: str
    lead: str | None


def in_scope(localities: frozenset[str] | None, person: str, case: Scope) -> bool:
    """A person acts on their teams' cases and the cases they lead; None: every locality."""
    return case.lead == person or localities is None or case.locality in localities


def claimed(command: Any) -> dict[str, Any]:
    """A command's fields as sent (commands reach the workflow undecoded: workflows/case.py)."""
    if isinstance(command, RawValue):
        try:
            command = json.loads(command.payload.data)
        except ValueError:
            return {}
    return command if isinstance(command, dict) else {}


class Authorization(Interceptor):
    """Checks every command in the validator stage (never on replay): encrypted where keys are configured,
    sent by the person its `by` names (a verified token), and allowed for that person on this case."""

    def __init__(self, roles: Roles | None, verifier: Verifier | None = None, encrypted: bool = False) -> None:
        self.roles, self.verifier, self.encrypted = roles, verifier, encrypted

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        owner = self

        class CheckCommands(WorkflowInboundInterceptor):
            def handle_update_validator(self, input: HandleUpdateInput) -> None:
                owner.check(input)
                super().handle_update_validator(input)

        return CheckCommands

    def check(self, input: HandleUpdateInput) -> None:
        raw = input.args[0] if input.args else None
        if self.encrypted and (not isinstance(raw, RawValue) or raw.payload.metadata.get(PLAINTEXT)):
            raise ApplicationError(
                "not_encrypted: this deployment takes only commands encrypted by its codec "
                "(use earlyhelp, the web app, or --codec-endpoint)",
                type="NotEncrypted",
                non_retryable=True,
            )
        command = claimed(raw)
        by = command.get("by")
        if not isinstance(by, str):
            return  # the command's own validator refuses it, naming `by`
        if self.verifier is not None:
            token = token_from(input.headers)
            if token is None:
                raise NotAuthenticated("no identity token: sign in (earlyhelp login, or the web app)")
            assert isinstance(raw, RawValue)
            binding = Binding(workflow.info().workflow_id, input.update, input.id, payload_hash(raw.payload))
            person = self.verifier.command(token, binding, workflow.now())
            if person != by:
                raise NotAuthenticated(f"the command says by {by!r} but was sent by {person!r}")
        if self.roles is not None:
            case = workflow.instance()
            state = getattr(case, "state", None)
            scope = Scope(state.referral.case_id, state.referral.locality, state.lead_practitioner) if state else None
            self.roles.check(input.update, by, scope)
            self.roles.check_staff(
                command, state.referral.route if state else "referral", state.referral.locality if state else None
            )
