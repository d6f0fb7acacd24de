"""Who may do what: roles from configuration, checked before any command is accepted.

A TOML roles file (EARLYHELP_ROLES_FILE) lists people by role:

    managers = ["tm-patel"]
    screeners = ["das-amir"]
    practitioners = ["lp-kaur"]
    social_workers = ["sw-ahmed"]

A worker interceptor checks each update's `by` against PERMISSIONS in the
validator stage, so a refused command is never written to history. The
safeguarding signal is never checked: nothing may stop it. Validators do
not run on replay, so changing the roles file never affects running cases.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Roles:
    people: dict[str, frozenset[str]]

    @classmethod
    def load(cls, path: Path) -> Roles:
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError("EARLYHELP_ROLES_FILE", f"cannot read {path}: {e}") from None
        unknown = set(doc) - set(ROLES)
        if unknown:
            raise ConfigError("EARLYHELP_ROLES_FILE", f"unknown role(s) {sorted(unknown)}; roles are {list(ROLES)}")
        people: dict[str, set[str]] = {}
        for role in ROLES:
            for person in doc.get(role, []):
                people.setdefault(person, set()).add(role)
        return cls({person: frozenset(roles) for person, roles in people.items()})

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


class Authorization(Interceptor):
    def __init__(self, roles: Roles) -> None:
        self.roles = roles

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        roles = self.roles

        class CheckRoles(WorkflowInboundInterceptor):
            def handle_update_validator(self, input: HandleUpdateInput) -> None:
                command: Any = input.args[0] if input.args else None
                roles.check(input.update, getattr(command, "by", ""))
                super().handle_update_validator(input)

        return CheckRoles
