"""Record the golden histories replayed in CI: `python -m tests.histories.record`.

Each scenario runs on the time-skipping server with a real PostgreSQL and
writes one JSON history per run (the format `temporal workflow show --output
json` writes). Record new goldens when the workflow gains a path; never
re-record old ones after a change: they are the proof that running cases
still replay.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from temporalio import workflow

from activities.db import connect
from activities.store import CaseActivities
from starter.local.samples import sample_referral
from tests.servers import embedded_database, time_skipping
from tests.support import LEAD, MANAGER, SCREENER, Case, london
from worker import logs
from worker.main import new_worker
from workflows.case import EVERY_PATCH_TO_DEC_2026, TAKEN_WITH_IT, EarlyHelpCase
from workflows.models import (
    DecideClosure,
    IdentifyLeadPractitioner,
    Need,
    RecordContactAttempt,
    RecordMaspOutcome,
    RecordScreening,
    RecordSocialCareDecision,
    RecordUnannouncedVisit,
    RecordWarmHandover,
    ReferToMasp,
    SafeguardingConcern,
    StepDown,
)
from workflows.policy import Policy

HERE = Path(__file__).parent
Scenario = Callable[[Case], Awaitable[None]]


async def referral_closed_needs_met(case: Case) -> None:
    await case.in_plan()
    for _ in range(2):
        await case.reviewed("met")
    await case.closure_requested()
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="needs met"))


async def signposted(case: Case) -> None:
    await case.do(
        EarlyHelpCase.record_screening,
        RecordScreening(by=SCREENER, decision="signpost", reason="one agency can help", services=["Family Support"]),
    )


async def safeguarding_at_referral(case: Case) -> None:
    await case.do(EarlyHelpCase.record_social_care_decision, RecordSocialCareDecision(by="sw-1", accepted=True))


async def contact_ladder_unable_to_engage(case: Case) -> None:
    await case.allocated()
    day = (await case.now()).date() + timedelta(days=1)
    await case.env.sleep(timedelta(days=2))
    for hour in (9, 14, 19):
        await case.do(
            EarlyHelpCase.record_contact_attempt,
            RecordContactAttempt(by=LEAD, at=london(day, hour), method="phone", outcome="no_answer"),
        )
    await case.env.sleep(timedelta(days=6))  # the warm handover answer is late: escalated
    await case.do(EarlyHelpCase.record_warm_handover, RecordWarmHandover(by=LEAD, outcome="failed"))
    for _ in range(3):
        await case.do(
            EarlyHelpCase.record_unannounced_visit,
            RecordUnannouncedVisit(by=LEAD, outcome="no_answer", letter_left=True),
        )
        await case.env.sleep(timedelta(days=1, hours=1))
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="no contact"))


async def step_down_cin_plan(case: Case) -> None:
    await case.do(
        EarlyHelpCase.identify_lead_practitioner,
        IdentifyLeadPractitioner(by="sw-1", practitioner=LEAD, chosen_by_family=True),
    )
    await case.reviewed("met")
    await case.closure_requested()
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="met"))


async def masp_step_up_and_back(case: Case) -> None:
    await case.in_plan()
    await case.reviewed("not_met", next_in=timedelta(weeks=4))
    await case.do(EarlyHelpCase.refer_to_masp, ReferToMasp(by=LEAD, criteria=["no_improvement", "re_referrals"]))
    await case.do(EarlyHelpCase.record_masp_outcome, RecordMaspOutcome(by=MANAGER, outcome="susd"))
    await case.do(EarlyHelpCase.record_social_care_decision, RecordSocialCareDecision(by="sw-1", accepted=False))
    await case.handle.signal(EarlyHelpCase.safeguarding_concern, SafeguardingConcern(by=LEAD, details="injury"))
    await case.do(EarlyHelpCase.record_social_care_decision, RecordSocialCareDecision(by="sw-1", accepted=True))


async def continue_as_new(case: Case) -> None:
    await case.in_plan()
    for _ in range(4):
        await case.reviewed("partly_met")
    await case.closure_requested()
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="met"))


async def shorter_runs(case: Case) -> None:
    """The default policy (patch shorter-runs): continue-as-new at the first review after 300 events."""
    await case.in_plan()
    while len(await case.runs()) < 2:
        await case.reviewed("partly_met")
    await case.closure_requested()
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="met"))


async def malformed_safeguarding_concern(case: Case) -> None:
    """A concern whose payload does not decode: acted on all the same (act-on-malformed-safeguarding-concerns)."""
    await case.handle.signal("safeguarding_concern", {"details": "no sender, no time"})
    await case.env.sleep(timedelta(hours=1))
    await case.do(EarlyHelpCase.record_social_care_decision, RecordSocialCareDecision(by="sw-1", accepted=True))


# --- old branches: recorded by today's code with one patch answered "no", as the code before it did ---


async def long_run_before_shorter_runs(case: Case) -> None:
    """Before shorter-runs: a run went on past 300 events at a review (continuing only at 2,000)."""
    await case.in_plan()
    while (await case.handle.describe()).history_length < 330:
        await case.reviewed("partly_met")
    await case.reviewed("partly_met")
    await case.closure_requested()
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="met"))


async def malformed_concern_dropped(case: Case) -> None:
    """Before act-on-malformed-safeguarding-concerns: a concern that did not decode was dropped."""
    await case.handle.signal("safeguarding_concern", {"details": "no sender, no time"})
    await case.env.sleep(timedelta(hours=1))
    await case.do(
        EarlyHelpCase.record_screening,
        RecordScreening(by=SCREENER, decision="signpost", services=["school nurse"], reason="asked for"),
    )


async def practice_v2_step_up_paused(case: Case) -> None:
    """Practice 2: a step-up pauses the early help deadlines; declined, the case returns with them set again."""
    await case.in_plan()
    await case.handle.signal(EarlyHelpCase.safeguarding_concern, SafeguardingConcern(by=LEAD, details="injury"))
    await case.env.sleep(timedelta(days=20))
    await case.do(EarlyHelpCase.record_social_care_decision, RecordSocialCareDecision(by="sw-1", accepted=False))
    await case.do("add_case_note", {"by": LEAD, "text": "Social care declined; plan continues.", "significant": True})
    await case.reviewed("met")
    await case.closure_requested()
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="met"))


async def practice_v2_consent_per_person(case: Case) -> None:
    """Practice 2: per-person consent, children seen later, reallocation, a locality transfer, and a closure
    after consent was withdrawn before allocation... then recorded again."""
    assert case.referral is not None
    parent, child = (m.person_ref for m in case.referral.family.members[:2])
    await case.do(EarlyHelpCase.record_screening, RecordScreening(by=SCREENER, decision="accept"))
    await case.do("withdraw_consent", {"by": SCREENER, "reason": "father unsure", "person_ref": parent})
    await case.do("record_consent", {"by": SCREENER, "person_ref": parent, "consent": {"given": True}})
    await case.do("allocate", {"by": SCREENER, "lead_practitioner": LEAD})
    await case.do("allocate", {"by": MANAGER, "lead_practitioner": "lp-smith", "reason": "lp-jones on leave"})
    await case.do(
        EarlyHelpCase.record_contact_attempt, RecordContactAttempt(by=LEAD, method="phone", outcome="reached")
    )
    await case.do(
        "record_home_visit", {"by": LEAD, "agreement_given": True, "genogram_started": True, "children_seen": False}
    )
    await case.env.sleep(timedelta(days=3))
    await case.do("record_child_seen", {"by": LEAD, "person_ref": child})
    await case.do("transfer_locality", {"by": MANAGER, "locality": "South", "reason": "the family moved"})
    await case.do("request_closure", {"by": LEAD, "reason": "moved_away"})
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="moved out of area"))


async def practice_v2_closed_before_allocation(case: Case) -> None:
    """Practice 2: consent withdrawn while awaiting allocation; no dead end: a manager closes the case."""
    await case.do(EarlyHelpCase.record_screening, RecordScreening(by=SCREENER, decision="accept"))
    await case.env.sleep(timedelta(days=8))  # the allocation deadline reminds and escalates
    await case.do("withdraw_consent", {"by": SCREENER, "reason": "no longer wanted"})
    await case.do("request_closure", {"by": SCREENER, "reason": "consent_withdrawn"})
    await case.do(EarlyHelpCase.decide_closure, DecideClosure(by=MANAGER, approve=True, reason="agreed"))


SCENARIOS: dict[str, tuple[Scenario, dict]] = {
    "referral_closed_needs_met": (referral_closed_needs_met, {}),
    "signposted": (signposted, {"needs": [Need(code="health", complex=True)]}),
    "safeguarding_at_referral": (safeguarding_at_referral, {"immediate_safeguarding": True}),
    "contact_ladder_unable_to_engage": (contact_ladder_unable_to_engage, {}),
    "step_down_cin_plan": (
        step_down_cin_plan,
        {"step_down": StepDown(social_worker="sw-1", cin_meeting_agreed_plan=True)},
    ),
    "masp_step_up_and_back": (masp_step_up_and_back, {"previous_referrals": 2}),
    "continue_as_new": (continue_as_new, {"policy": Policy(continue_as_new_after_events=40)}),
    # Recorded after carry-state-not-timeline: continued runs carry the state only.
    "continue_as_new_carrying_state": (continue_as_new, {"policy": Policy(continue_as_new_after_events=40)}),
    "malformed_safeguarding_concern": (malformed_safeguarding_concern, {}),
    # Practice version 2 (patch practice-v2, docs/domain.md section 9):
    "practice_v2_step_up_paused": (practice_v2_step_up_paused, {}),
    "practice_v2_consent_per_person": (practice_v2_consent_per_person, {"locality": "North"}),
    "practice_v2_closed_before_allocation": (practice_v2_closed_before_allocation, {}),
    "continue_as_new_shorter_runs": (shorter_runs, {}),
    "before_shorter_runs": (long_run_before_shorter_runs, {}),
    "before_act_on_malformed_concerns": (malformed_concern_dropped, {"needs": [Need(code="health", complex=True)]}),
    # Recorded after save-in-the-workflow-task: saves as local activities, timers kept while their due time holds.
    "saved_in_task_contact_ladder": (contact_ladder_unable_to_engage, {}),
    "saved_in_task_continue_as_new": (continue_as_new, {"policy": Policy(continue_as_new_after_events=40)}),
    # Recorded once the family's earlier cases were dated when asked for (workflows/case.py _find_previous_cases).
    "saved_in_task_signposted_when_asked": (signposted, {"needs": [Need(code="health", complex=True)]}),
    # Recorded after every-patch-to-december-2026: one patch marker a run, every earlier patch taken with it.
    "one_marker_closed_needs_met": (referral_closed_needs_met, {}),
    "one_marker_contact_ladder": (contact_ladder_unable_to_engage, {}),
    "one_marker_continue_as_new": (continue_as_new, {"policy": Policy(continue_as_new_after_events=40)}),
    "one_marker_malformed_concern": (malformed_safeguarding_concern, {}),
}
# Scenarios recorded with a patch answered "no" (no marker): each is the golden of that patch's old branch.
BEFORE_PATCH = {
    "before_shorter_runs": "shorter-runs",
    "before_act_on_malformed_concerns": "act-on-malformed-safeguarding-concerns",
}


@contextmanager
def answered_no(patch_id: str | None) -> Iterator[None]:
    """workflow.patched(patch_id) answers False and records no marker, as before the patch was written (and so
    does the one marker that takes it with the others, which came after it)."""
    real = workflow.patched
    if patch_id:
        before = {patch_id, EVERY_PATCH_TO_DEC_2026} if patch_id in TAKEN_WITH_IT else {patch_id}
        workflow.patched = lambda asked: False if asked in before else real(asked)  # type: ignore[assignment]
    try:
        yield
    finally:
        workflow.patched = real  # type: ignore[assignment]


async def record(folder: Path, names: list[str] | None = None) -> list[Path]:
    logs.configure("warning")
    pool = await connect(embedded_database())
    env = await time_skipping()
    written = []
    try:
        async with new_worker(env.client, CaseActivities(pool), "record"):
            for name, (scenario, options) in SCENARIOS.items():
                if names and name not in names:
                    continue
                referral = sample_referral(f"G-{name}-{uuid.uuid4().hex[:6]}", await env.get_current_time(), **options)
                with answered_no(BEFORE_PATCH.get(name)):
                    case = await Case.start(env, "record", referral)
                    await scenario(case)
                    await case.handle.result()
                for n, history in enumerate(await case.histories(), start=1):
                    path = folder / f"{name}.run{n}.json"
                    path.write_text(history.to_json())
                    written.append(path)
    finally:
        await env.shutdown()
        await pool.close()
    return written


if __name__ == "__main__":  # python -m tests.histories.record [NAME ...]: only the scenarios named (new ones)
    for path in asyncio.run(record(HERE, sys.argv[1:] or None)):
        print(path.relative_to(HERE.parent.parent))
