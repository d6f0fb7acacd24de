"""Every `workflow.patched` id in one place: what it changed, the golden history of its old branch, and when
it can be retired (docs/operations.md "Patches"). A test holds this list to the ids the code asks, and
replays the goldens with each old branch deleted: each golden named here must then fail."""

from __future__ import annotations

from dataclasses import dataclass

import workflows.bank_holidays as bank_holidays


@dataclass(frozen=True)
class Patch:
    id: str
    workflow: str
    change: str
    old_branch_golden: str | None  # tests/histories/<name>.run1.json, recorded on the old branch
    no_golden_because: str = ""  # when there is none
    retire_when: str = "no open run began before the patch (`earlyhelp patches` counts them)"


PATCHES: tuple[Patch, ...] = (
    Patch(
        "publish-search-attributes-before-save",
        "EarlyHelpCase",
        "search attributes are published before the save, not after",
        "referral_closed_needs_met",
    ),
    Patch(
        "carry-state-not-timeline",
        "EarlyHelpCase",
        "continue-as-new carries the state and unsaved events, not every event",
        "continue_as_new",  # (what it carried: tests/histories/ends.py)
    ),
    Patch(
        "shorter-runs",
        "EarlyHelpCase",
        "continue-as-new at the first review after 300 events, not 2,000",
        "before_shorter_runs",
    ),
    Patch(
        "refuse-plaintext-start",
        "EarlyHelpCase",
        "a referral that arrived unencrypted where keys are configured is refused",
        None,
        "its old branch needs a worker with keys: recorded and replayed in tests/test_patches.py",
    ),
    Patch(
        "act-on-malformed-safeguarding-concerns",
        "EarlyHelpCase",
        "a concern whose payload does not decode is acted on, not dropped",
        "before_act_on_malformed_concerns",
    ),
    Patch(
        "case-is-its-id",
        "EarlyHelpCase",
        "a referral whose case id is not the workflow's (case-<case_id>) is refused at once",
        None,
        "asked only for such a referral, which no client of the service sends: no golden has one",
    ),
    Patch(
        "practice-v2",
        "EarlyHelpCase",
        "practice version 2 for new cases, and for older ones at their next run",
        "referral_closed_needs_met",
    ),
    Patch(
        "save-in-the-workflow-task",
        "EarlyHelpCase",
        "what no one waits on (a deadline's reminder or escalation, the referral, a concern) is saved by a local"
        " activity in its workflow task, a command's events still by an activity, and a deadline's timer is kept"
        " while its due time holds; before, every save was an activity and each wait set a new timer",
        "referral_closed_needs_met",
    ),
    Patch(
        "every-patch-to-december-2026",
        "EarlyHelpCase",
        "a run asks this one patch and takes every patch above without asking: one marker and one search-attribute"
        " write a run, not one of each per patch; before, each patch was asked by name",
        "referral_closed_needs_met",
        retire_when="no open run began before the patch: then every old branch above goes with it",
    ),
    Patch(
        "send-retries-end",
        "Delivery",
        "a send refused for six hours is escalated; before, its retries had no end",
        None,
        "deliveries are replayed in tests/test_delivery.py, not kept as files",
        "three days after deploying it: a delivery lives at most three days",
    ),
    *(
        Patch(
            edition.patch,
            "EarlyHelpCase",
            f"bank holidays, edition {edition.number}",
            None,
            "an edition changes due dates, not commands (tests/test_bank_holidays.py)",
        )
        for edition in bank_holidays.EDITIONS
        if edition.patch
    ),
)
# Retired: the old branch deleted and the call made `workflow.deprecate_patch`, so histories that hold the
# marker still replay; the call itself goes once no history holds it.
DEPRECATED: tuple[str, ...] = ("send-and-follow-in-one-activity", "escalation-started-by-activity")
