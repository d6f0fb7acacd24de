"""The workflow sandbox, configured in one place for the worker and for every replay (ops and tests).

Workflow code runs in the SDK's sandbox, which loads a workflow's modules afresh for each run unless they
are passed through. Passed through here: pydantic (slow to load, and its models must be the same classes
everywhere) and the pure domain the workflows build on. The domain may be shared by every workflow thread
because the tools hold it pure: ruff's banned-api and import-linter forbid clocks, randomness and I/O in
it, and tests/test_workflow_purity.py forbids module-level mutable state (pyproject.toml, `make check`).
The workflow definitions themselves (case, delivery, mash, digest) stay in the sandbox.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

DOMAIN = (
    "bank_holidays",
    "bounds",
    "calendar",
    "editions",
    "interfaces",
    "models",
    "patches",
    "pathway",
    "person",
    "policy",
    "record",
    "rules",
    "search",
    "state",
)
PASSED_THROUGH = ("pydantic", "pydantic_core", "annotated_types", "dateutil", *(f"workflows.{m}" for m in DOMAIN))


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))
