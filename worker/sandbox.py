"""How workflow code is run, in one place for the worker and for every replay (ops and tests): without the SDK's
sandbox.

The sandbox loads a workflow's module afresh for every run it starts or replays, runs each activation and each
payload's serialization context through code strings it executes, and proxies restricted modules, so that a
clock, a random number or I/O in workflow code fails at run time. Measured on this machine (issue #27,
benchmarks/README.md "Where the time goes"), it was a third of the worker's CPU per command and half of a
replay's time: the lifecycle ran at 0.525 of bare Temporal with it and 0.672 without; the same histories replayed
at 45.6 a second with it and 78.4 without (one process).

What it guarded is guarded before the code runs, for every module of workflows/, by tools that fail `make
check` and CI: ruff's banned-api (clocks, randomness, the environment, files, sockets, threads, caches, real
sleeps: pyproject.toml), import-linter's layers (workflows/ imports nothing that does I/O),
tests/test_workflow_purity.py (no module-level mutable state, which runs would now share), and the golden
histories replayed against every change (tests/histories/). A workflow that did slip would fail its task, be
listed by `earlyhelp doctor`, and lose nothing: its history is kept until a fix is deployed.
"""

from __future__ import annotations

from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner


def workflow_runner() -> WorkflowRunner:
    return UnsandboxedWorkflowRunner()
