"""Replay across processes (`earlyhelp replay --workers N`): a replay is CPU-bound Python, one core per
process, so a county's histories are shared out in small chunks between N processes (the machine's cores
by default), each with its own event loop, client and codec, kept for its life. Each history is replayed
whole by one process with the SDK's sandbox, as `replay` does in one: the guard against non-determinism is
the same.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHistory

from starter.ops.histories import ReplayResult, replay
from worker.config import Config
from worker.temporal import connect, data_converter

CHUNK = 16  # histories a process takes at a time: small enough to share out evenly, big enough to be cheap
OVERLAP = 2  # replayers run at once in a process
# A history to replay: a JSON file's path, or a (workflow id, run id) on the server.
Item = str | tuple[str, str]

_loop: asyncio.AbstractEventLoop | None = None
_client: Client | None = None


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _start_process() -> None:
    global _loop
    _loop = asyncio.new_event_loop()


async def _history(item: Item) -> WorkflowHistory:
    global _client
    if isinstance(item, str):
        return WorkflowHistory.from_json(Path(item).stem, Path(item).read_text())
    if _client is None:
        _client = await connect(Config.from_env())
    workflow_id, run_id = item
    return await _client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()


_converter: Any = None


async def _replay_chunk(items: list[Item]) -> list[ReplayResult]:
    global _converter
    histories = [await _history(item) for item in items]
    if _client is not None:
        converter = _client.data_converter
    else:  # histories from files: the codec alone, made once
        _converter = _converter or await data_converter(Config.from_env())
        converter = _converter

    async def each(part: list[WorkflowHistory]) -> Any:
        for h in part:
            yield h

    # Two replayers at once in each process: while one waits on the SDK's core, the other runs Python.
    parts = [histories[i::OVERLAP] for i in range(OVERLAP)]
    done = await asyncio.gather(*(replay(each(part), converter) for part in parts if part))
    return [result for results in done for result in results]


def _in_process(items: list[Item]) -> list[ReplayResult]:
    assert _loop is not None
    return _loop.run_until_complete(_replay_chunk(items))


def chunks(items: list[Item], size: int = CHUNK) -> Iterator[list[Item]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def replay_in_parallel(
    items: list[Item], workers: int, progress: Callable[[ReplayResult], None] = lambda r: None
) -> list[ReplayResult]:
    """Replay every item across `workers` processes; results in the order they finish."""
    results: list[ReplayResult] = []
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no threads or loops of the parent's
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_process) as pool:
        pending: set[Future[list[ReplayResult]]] = {pool.submit(_in_process, c) for c in chunks(items)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                for result in future.result():
                    results.append(result)
                    progress(result)
    return results


async def server_items(client: Client, query: str | None) -> list[Item]:
    """Every run of the cases matching a visibility query, as (workflow id, run id)."""
    from starter.ops.histories import ALL_CASES

    clause = ALL_CASES if not query else f"{ALL_CASES} AND ({query})"
    return [(w.id, w.run_id) async for w in client.list_workflows(clause)]


def dir_items(folder: Path) -> list[Item]:
    return [str(p) for p in sorted(folder.glob("*.json"))]
