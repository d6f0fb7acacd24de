"""What the engine asks of the server, counted from histories: per command, per deadline, per message.

Each history is read once (the server's own record), and its events counted by kind: workflow tasks,
activities, local-activity markers, timers started and cancelled, search-attribute upserts, workflows
started (delivery's), and the payload bytes the server stored. Divided by the commands (updates
accepted) or the timers fired, beside the baseline's counted the same way, so a ratio can be read as
the server's extra work.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable
from typing import Any

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
