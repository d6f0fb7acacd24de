"""Which edition of versioned domain data a workflow run uses: chosen once, at the run's start.

Each edition of the bank holidays after the first comes in behind its own `workflow.patched` id
(workflows/bank_holidays.py). Asked once when a run starts: a run begun under an edition keeps it (the SDK
would answer an id first asked while replaying 'no' for the rest of the run anyway), and the case takes a
newer one at its next run: at a review, or when ops move it on (`move_to_new_run`, docs/operations.md).
"""

from __future__ import annotations

from temporalio import workflow

import workflows.bank_holidays as bank_holidays


def bank_holiday_edition() -> bank_holidays.Edition:
    """The newest edition this run's history allows: the newest whose patch it has, or the first."""
    for edition in reversed(bank_holidays.EDITIONS[1:]):
        if edition.patch and workflow.patched(edition.patch):
            return edition
    return bank_holidays.EDITIONS[0]
