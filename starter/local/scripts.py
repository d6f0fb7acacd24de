"""Common walks along the pathway, shared by the demo, the sample run and the tests.

Each takes `send(update, command) -> Snapshot` and `now() -> datetime`, so it
drives a case the same way on any server and through any client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from workflows.case import EarlyHelpCase
from workflows.models import (
    Allocate,
    NeedOutcome,
    PlanAction,
    RecordAssessment,
    RecordContactAttempt,
    RecordHomeVisit,
    RecordScreening,
    RecordTaf,
    RequestClosure,
    Snapshot,
)

Send = Callable[[Any, Any], Awaitable[Snapshot]]
Now = Callable[[], Awaitable[datetime]]

SCREENER, LEAD, MANAGER = "das-screener", "lp-jones", "tm-patel"


async def allocated(send: Send, lead: str = LEAD) -> Snapshot:
    await send(EarlyHelpCase.record_screening, RecordScreening(by=SCREENER, decision="accept"))
    return await send(EarlyHelpCase.allocate, Allocate(by=SCREENER, lead_practitioner=lead))


async def assessed(send: Send, lead: str = LEAD) -> Snapshot:
    """Allocated, contact made, home visit with agreement, Signs of Safety assessment."""
    snap = await allocated(send, lead)
    await send(EarlyHelpCase.record_contact_attempt, RecordContactAttempt(by=lead, method="phone", outcome="reached"))
    await send(
        EarlyHelpCase.record_home_visit,
        RecordHomeVisit(by=lead, agreement_given=True, genogram_started=True, children_seen=True),
    )
    return await send(
        EarlyHelpCase.record_assessment,
        RecordAssessment(
            by=lead,
            worries=["school attendance falling"],
            working_well=["warm relationships"],
            needs_to_happen=["a daily routine", "stable housing"],
            scaling=4,
            sources=["school", "parent", "health visitor"],
            needs=snap.needs,
        ),
    )


async def taf_held(send: Send, now: Now, snap: Snapshot, lead: str = LEAD) -> Snapshot:
    """The initial TAF with an action for every need and a review in twelve weeks."""
    held = await now()
    return await send(
        EarlyHelpCase.record_taf,
        RecordTaf(
            by=lead,
            held_at=held,
            attendees=["parent", "school", lead],
            actions=[
                PlanAction(
                    need_code=n.code, action="agreed support", owner="lead agency", due=held.date() + timedelta(weeks=6)
                )
                for n in snap.needs
            ],
            review_date=held.date() + timedelta(weeks=12),
        ),
    )


async def in_plan(send: Send, now: Now, lead: str = LEAD) -> Snapshot:
    return await taf_held(send, now, await assessed(send, lead), lead)


async def closure_requested(send: Send, snap: Snapshot, reason: str = "needs_met", lead: str = LEAD) -> Snapshot:
    return await send(
        EarlyHelpCase.request_closure,
        RequestClosure(
            by=lead,
            reason=reason,
            need_outcomes=[
                NeedOutcome(need_code=n.code, summary="met and sustained", status="met") for n in snap.needs
            ],
        ),
    )
