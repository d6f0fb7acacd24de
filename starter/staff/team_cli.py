"""Team commands of `earlyhelp` for managers: move every case of an absent practitioner, and log the
advice point's contacts (counts only) [DOMAIN 9][002]."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from pydantic import ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from activities.report import AdviceContact, Channel, ContactOutcome, record_contact
from starter.cli import app, err, fail, list_query, list_rows, out, parse, run, send, staff
from starter.staff import remote, session
from starter.staff.manager_cli import with_db
from worker.identity import acting_for
from worker.temporal import new_update_id, send_command
from workflows.bounds import refusal
from workflows.models import Allocate


@app.command()
def reallocate(
    from_lead: Annotated[str, typer.Option("--from", help="the practitioner whose open cases move")],
    to_lead: Annotated[str, typer.Option("--to", help="the practitioner who takes them")],
    reason: Annotated[str, typer.Option(help="why (absence, leaving, caseload): recorded on every case")],
    by: Annotated[str | None, typer.Option(help="the manager (default: the person signed in)")] = None,
) -> None:
    """Reallocate every open case led by one practitioner to another, each with the reason [DOMAIN 9].
    Each case is one `allocate` command of its own: a refusal on one case is shown and the others go on."""
    if by is None and (signed_in := session.Session.load()):
        by = signed_in.person
    if not reason.strip():
        fail("--reason: a reallocation needs a reason (absence, leaving, caseload) [DOMAIN 9]", 2)
    command = parse(Allocate, {"by": by, "lead_practitioner": to_lead, "reason": reason})
    if remote.signed_in():  # the manager's teams' cases, each sent through the staff API
        cases = [r["case_id"] for r in staff("GET", "/caseload", lead=from_lead)]
        results = []
        for n, case in enumerate(cases, start=1):
            try:
                send(case, "allocate", command)
                results.append((case, "reallocated"))
            except typer.Exit:  # refused for this case (shown above): the others go on
                results.append((case, "refused"))
            err.print(f"  {n}/{len(cases)} {case}: {results[-1][1]}", highlight=False)
        report(results, from_lead, to_lead)
        return

    async def go(client: Client) -> list[tuple[str, str]]:
        cases = [
            r["case_id"]
            for r in await list_rows(
                client, list_query(None, None, from_lead, None) + " AND ExecutionStatus = 'Running'", 10_000
            )
        ]
        results = []
        for n, case in enumerate(cases, start=1):
            acting_for.set(command.by)
            try:
                await send_command(client, case, "allocate", command, new_update_id())
                results.append((case, "reallocated"))
            except (WorkflowUpdateFailedError, RPCError) as e:
                cause = getattr(e, "cause", None)
                results.append((case, f"refused: {getattr(cause, 'message', None) or e}"))
            err.print(f"  {n}/{len(cases)} {case}: {results[-1][1]}", highlight=False)
        return results

    report(run(go), from_lead, to_lead)


def report(results: list[tuple[str, str]], from_lead: str, to_lead: str) -> None:
    moved = sum(1 for _, what in results if what == "reallocated")
    out.print(f"{moved} of {len(results)} open case(s) of {from_lead} reallocated to {to_lead}.")
    if moved != len(results):
        raise typer.Exit(1)


@app.command("keep-document")
def keep_document_command(
    case: Annotated[str, typer.Argument(help="the case")],
    file: Annotated[Path, typer.Argument(help="a PDF, PNG or JPEG image, or Word document (.docx), 10 MB at most")],
    kind: Annotated[str, typer.Option(help="consent_form, school_report, health_report, cin_plan, court_order, other")],
) -> None:
    """Keep a document on a case (a signed consent form, a school report, a CIN plan), as the case page's form does:
    judged by its content, sealed under the case's key, recorded with its SHA-256. Signed in only."""
    if remote.signed_in() is None:
        fail("keeping a document goes through the web app: sign in first (earlyhelp login)", 2)
    try:
        content = file.read_bytes()
    except OSError as e:
        fail(f"file: cannot read {file}: {e.strerror}", 2)
    key = "cli-" + hashlib.sha256(case.encode() + content).hexdigest()[:40]  # the same file sent again: kept once
    kept = staff("POST", f"/cases/{case}/files", content, kind=kind, filename=file.name, idempotency_key=key)
    out.print(f"Case {case}: {file.name} kept as {kept['document_id']}.")


@app.command("post-letter")
def post_letter_command(
    case: Annotated[str, typer.Argument(help="the case")],
    document: Annotated[int, typer.Argument(help="the letter's number (the case page's Letters and forms)")],
) -> None:
    """Send one of a case's letters to the family by post, through GOV.UK Notify's letter API: to a parent or carer
    at the family's address as the family record has them, once a letter. Signed in only (the web app sends it)."""
    if remote.signed_in() is None:
        fail("posting a letter goes through the web app: sign in first (earlyhelp login)", 2)
    answer = staff("POST", f"/cases/{case}/documents/{document}/post", {})
    out.print(f"Case {case}: letter {document} {'is being posted' if answer['posted'] else 'was posted before'}.")


@app.command()
def contact(
    locality: Annotated[str, typer.Option(help="the advice point's locality")],
    channel: Annotated[str, typer.Option(help=f"one of {', '.join(get_args(Channel))}")],
    outcome: Annotated[str, typer.Option(help=f"one of {', '.join(get_args(ContactOutcome))}")],
    by: Annotated[str | None, typer.Option(help="who took it (default: the person signed in)")] = None,
    at: Annotated[str | None, typer.Option(help="when (ISO 8601 with an offset; default now)")] = None,
) -> None:
    """Log a contact through an advice point, for the report's 'contacts through the advice point' [002]."""
    if (signed_in := remote.signed_in()) is not None:  # logged by the web app for the person signed in
        if by not in (None, signed_in.person):
            fail(f"not_authenticated: --by {by!r} but signed in as {signed_in.person!r}", 1)
        body = {"locality": locality, "channel": channel, "outcome": outcome, "at": at}
        entry = staff("POST", "/contacts", {k: v for k, v in body.items() if v is not None})
        out.print(f"Contact logged for {entry['locality']} ({entry['channel']}, {entry['outcome'].replace('_', ' ')}).")
        return
    try:
        by = session.proven_person(by, "logging a contact")
    except session.NotProven as e:
        fail(str(e), 1)
    values: dict[str, Any] = {
        "by": by,
        "locality": locality,
        "channel": channel,
        "outcome": outcome,
        "at": at or datetime.now(UTC).isoformat(),
    }
    try:
        entry = AdviceContact.model_validate(values)
    except ValidationError as e:
        fail(f"invalid contact: {refusal(e)}", 2)
    with_db(lambda conn: record_contact(conn, entry.locality, entry.channel, entry.outcome, entry.by, entry.at))
    out.print(f"Contact logged for {entry.locality} ({entry.channel}, {entry.outcome.replace('_', ' ')}).")
