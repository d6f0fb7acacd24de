"""Readable tables for the terminal (Rich)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group
from rich.table import Table

from workflows.calendar import LONDON
from workflows.models import Event, Snapshot

STATUS_STYLE = {"pending": "yellow", "met": "green", "missed": "bold red", "cancelled": "dim"}


def when(moment: datetime | None) -> str:
    return moment.astimezone(LONDON).strftime("%a %d %b %Y %H:%M") if moment else "-"


def snapshot(snap: Snapshot) -> Group:
    head = Table.grid(padding=(0, 2))
    head.add_row("Case", snap.case_id)
    head.add_row("Route", snap.route)
    head.add_row("Stage", f"[bold]{snap.stage}[/]")
    head.add_row("Locality", snap.locality)
    head.add_row("Lead practitioner", snap.lead_practitioner or "-")
    head.add_row("Consent", "given" if snap.consent_given else "[red]not recorded[/]")
    head.add_row("Threshold", snap.threshold_recommendation)
    head.add_row("Needs", ", ".join(f"{n.code}{'' if n.complex else ' (simple)'}" for n in snap.needs) or "-")
    if snap.pending_approval:
        p = snap.pending_approval
        head.add_row("Awaiting approval", f"closure ({p.reason}) asked by {p.requested_by} on {when(p.requested_at)}")
    if snap.outcome:
        head.add_row("Outcome", f"{snap.outcome.final_stage}: {snap.outcome.reason} ({when(snap.outcome.closed_at)})")
    deadlines = Table(title="Deadlines", title_justify="left")
    for column in ("kind", "due", "status", "done"):
        deadlines.add_column(column)
    for d in snap.deadlines:
        style = STATUS_STYLE[d.status]
        deadlines.add_row(d.kind, when(d.due_at), f"[{style}]{d.status}[/]", when(d.completed_at))
    return Group(head, deadlines) if snap.deadlines else Group(head)


def timeline(case_id: str, events: list[Event]) -> Table:
    table = Table(title=f"Case {case_id}: timeline", title_justify="left")
    for column in ("#", "when", "what", "by", "details"):
        table.add_column(column)
    for e in events:
        table.add_row(str(e.seq), when(e.at), e.type, e.by, _details(e))
    return table


def _details(event: Event) -> str:
    keep = (
        "to",
        "kind",
        "decision",
        "outcome",
        "lead_practitioner",
        "practitioner",
        "reason",
        "method",
        "time_of_day",
        "approve",
        "criteria",
        "final_stage",
    )
    return ", ".join(f"{k}={v}" for k, v in event.data.items() if k in keep)


def case_list(rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(rows)} case(s)", title_justify="left")
    for column in ("case", "stage", "locality", "lead", "next deadline", "status"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["case_id"],
            r["stage"] or "-",
            r["locality"] or "-",
            r["lead"] or "-",
            when(r["next_deadline"]),
            r["status"] or "-",
        )
    return table


def chronology(case_id: str, entries: list[Any]) -> Table:
    table = Table(title=f"Case {case_id}: chronology from its history", title_justify="left")
    for column in ("when", "what", "by", "details"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.at, e.what, e.by, e.details)
    return table
