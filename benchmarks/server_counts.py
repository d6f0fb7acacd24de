"""What the engine asks of the server, counted from histories: per command, per deadline, per message.

Each history is read once (the server's own record), and its events counted by kind: workflow tasks,
activities, local-activity markers, timers started and cancelled, search-attribute upserts, workflows
started (delivery's), and the payload bytes the server stored. Divided by the commands (updates
accepted) or the timers fired, beside the baseline's counted the same way, so a ratio can be read as
the server's extra work.

`requests` reads the dev server's own counts (its Prometheus endpoint): the calls each side made of the
server, and the reads and writes those made of its store, by operation.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from typing import Any

import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

KINDS = {
    "workflow_tasks": EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    "updates": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    "signals": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    "activities": EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    "timers_started": EventType.EVENT_TYPE_TIMER_STARTED,
    "timers_fired": EventType.EVENT_TYPE_TIMER_FIRED,
    "timers_cancelled": EventType.EVENT_TYPE_TIMER_CANCELED,
    "search_attribute_upserts": EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    "children_started": EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    "continued_as_new": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}

MARKERS = ("local_activities", "patch_markers")


def count(events: Iterable[HistoryEvent]) -> Counter[str]:
    """One run's events by kind, its events and its bytes as the server stores them."""
    c: Counter[str] = Counter()
    wanted = {v: k for k, v in KINDS.items()}
    for e in events:
        c["history_events"] += 1
        c["history_bytes"] += e.ByteSize()
        if (kind := wanted.get(e.event_type)) is not None:
            c[kind] += 1
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:  # a patch's marker or a local activity's
            local = e.marker_recorded_event_attributes.marker_name == "core_local_activity"
            c["local_activities" if local else "patch_markers"] += 1
    return c


async def histories(client: Client, query: str, limit: int) -> AsyncIterator[tuple[str, list[HistoryEvent]]]:
    n = 0
    async for wf in client.list_workflows(query):
        history = await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        yield wf.workflow_type, list(history.events)
        n += 1
        if n >= limit:
            return


async def totals(client: Client, query: str, limit: int = 200) -> dict[str, Any]:
    """Totals over the runs the query finds (at most `limit`), and per update and per timer fired."""
    total: Counter[str] = Counter()
    runs = 0
    types: Counter[str] = Counter()
    async for wf_type, events in histories(client, query, limit):
        types[wf_type] += 1
        total.update(count(events))
        runs += 1
    out: dict[str, Any] = {
        "query": query,
        "types": dict(types),
        "runs": runs,
        **{k: total[k] for k in (*KINDS, *MARKERS, "history_events", "history_bytes")},
    }
    for unit, per in (("updates", "per_update"), ("timers_fired", "per_timer_fired")):
        if total[unit]:
            out[per] = {
                k: round(total[k] / total[unit], 2)
                for k in (
                    "workflow_tasks",
                    "activities",
                    "local_activities",
                    "timers_started",
                    "timers_cancelled",
                    "patch_markers",
                )
                + ("search_attribute_upserts", "children_started", "history_events", "history_bytes")
            }
    return out


# The server's counts of what it was asked (frontend, history and matching alike) and of what it asked its store.
REQUESTS = ("service_requests", "persistence_requests", "visibility_persistence_requests")
_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$")
_OPERATION = re.compile(r'operation="([^"]*)"')


def metrics_url(server_pid: int) -> str:
    """The dev server's Prometheus endpoint: the port of its own choosing (chosen here, it could be taken by
    another process before the server bound it) that answers /metrics with the server's counts."""
    for listening in sorted(
        {c.laddr.port for c in psutil.Process(server_pid).net_connections() if c.status == "LISTEN"}
    ):
        url = f"http://127.0.0.1:{listening}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (the benchmark's own server)
                if b"service_requests" in answer.read():
                    return url
        except OSError:
            continue
    raise RuntimeError(f"the dev server (pid {server_pid}) answers /metrics on none of its ports")


def requests(metrics_url: str) -> Counter[str]:
    """The server's counts so far, as `<metric>:<operation>` (e.g. `persistence_requests:UpdateWorkflowExecution`)."""
    counts: Counter[str] = Counter()
    with urllib.request.urlopen(metrics_url, timeout=10) as answer:  # noqa: S310 (the benchmark's own server)
        for line in answer.read().decode().splitlines():
            if (sample := _SAMPLE.match(line)) and sample[1] in REQUESTS:
                operation = _OPERATION.search(sample[2])
                counts[f"{sample[1]}:{operation[1] if operation else ''}"] += float(sample[3])
    return counts


async def settled_requests(metrics_url: str, every: float = 1.5, at_most: int = 10) -> Counter[str]:
    """`requests` once the calls workers and clients make agree in two readings `every` seconds apart: the
    server publishes its counts each second or so, and a side's last calls must be counted as its own, not the
    next side's. (Its reads of its own store go on while idle: namespaces, cluster metadata, task queues.)"""

    def calls(counts: Counter[str]) -> dict[str, float]:
        return {k: v for k, v in counts.items() if k.startswith("service_requests:") and ":Poll" not in k}

    now = requests(metrics_url)
    for _ in range(at_most):
        await asyncio.sleep(every)
        now, before = requests(metrics_url), now
        if calls(now) == calls(before):
            break
    return now


def per_command(counts: Counter[str], commands: int) -> dict[str, float]:
    """Counts a command, the ones that come to at least one in a hundred commands."""
    return {k: round(v / commands, 2) for k, v in sorted(counts.items()) if commands and v / commands >= 0.01}
