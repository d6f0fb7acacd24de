"""Where each golden run ends: the state it finished with, or what it continued-as-new with, as replayed.

Replay alone compares only the commands a workflow issues. A deleted old branch can replay without a
command differing and still end in another state (practice-v2's upgrade at continue-as-new) or carry
something else into the next run (carry-state-not-timeline). So each golden run's end is kept
(`ends/ends.json`: a digest of the state, and its stage and practice version for a reader), and the replay
tests compare it. `python -m tests.histories.ends` writes it: only when a golden is added, never after a
change to the code (the ends are the proof that replay still ends where the recording did).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from worker.sandbox import workflow_runner

HERE = Path(__file__).parent
ENDS = HERE / "ends" / "ends.json"
GOLDEN = sorted(HERE.glob("*.json"))


def golden_histories() -> list[WorkflowHistory]:
    return [WorkflowHistory.from_json(path.stem, path.read_text()) for path in GOLDEN]


def _end(how: str, model: Any) -> dict[str, Any]:
    state = getattr(model, "state", model)
    return {
        "how": how,
        "stage": state.stage.value,
        "practice": state.practice,
        # (fields at their defaults left out: a field added later, unused, does not move the digest)
        "sha256": hashlib.sha256(model.model_dump_json(exclude_defaults=True).encode()).hexdigest(),
    }


class RecordEnds(Interceptor):
    """Notes, by golden name, how each replayed run ended."""

    def __init__(self) -> None:
        self.ends: dict[str, dict[str, Any]] = {}

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        ends = self.ends

        class Outbound(WorkflowOutboundInterceptor):
            def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
                ends[workflow.info().workflow_id] = _end("continued_as_new", input.args[0])
                super().continue_as_new(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                result = await super().execute_workflow(input)
                ends[workflow.info().workflow_id] = _end("finished", workflow.instance().state)
                return result

        return Inbound


async def replay(workflow_class: type, histories: list[WorkflowHistory]) -> tuple[dict[str, str | None], dict]:
    """Each history's replay failure (None if none), and how each replayed run ended."""

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    recorder = RecordEnds()
    replayer = Replayer(
        workflows=[workflow_class],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
        interceptors=[recorder],
    )
    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    failures = {
        history.workflow_id: (str(failure) if (failure := results.replay_failures.get(history.run_id)) else None)
        for history in histories
    }
    return failures, recorder.ends


def recorded_ends() -> dict[str, dict[str, Any]]:
    return json.loads(ENDS.read_text())


def ends_differing(ends: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Golden runs whose replay ended otherwise than recorded, each with how."""
    recorded = recorded_ends()
    return {
        name: f"recorded {recorded.get(name)}, replayed {ends.get(name)}"
        for name in recorded.keys() | ends.keys()
        if recorded.get(name) != ends.get(name)
    }


if __name__ == "__main__":
    from workflows.case import EarlyHelpCase

    failures, ends = asyncio.run(replay(EarlyHelpCase, golden_histories()))
    assert not any(failures.values()), failures
    ENDS.parent.mkdir(exist_ok=True)
    ENDS.write_text(json.dumps(dict(sorted(ends.items())), indent=1) + "\n")
    print(f"{len(ends)} ends written to {ENDS.relative_to(HERE.parent.parent)}")
