"""A deliberate rule change for tests: a deploy whose rules now refuse a command that cases took before
(allocation). Update handlers decide again on replay, so every case that was allocated fails its replay.
(No `from __future__ import annotations`: the SDK compares the run method's parameters with __init__'s.)"""

from temporalio import workflow
from temporalio.common import RawValue

from workflows.case import EarlyHelpCase
from workflows.models import Allocate, CaseOutcome, Command, Snapshot
from workflows.rules import RuleBroken

RULE = "deliberately_stricter"


@workflow.defn(name="EarlyHelpCase", sandboxed=False)
class RefusesAllocation(EarlyHelpCase):
    def _handle(self, model: type[Command], raw: RawValue) -> Snapshot:
        if model is Allocate:
            raise RuleBroken(RULE, "no case may be allocated")
        return super()._handle(model, raw)

    @workflow.run
    async def run(self, start: RawValue) -> CaseOutcome:
        return await super().run(start)
