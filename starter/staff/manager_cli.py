"""Read-model commands of `earlyhelp`: caseload, due, approvals, report, export-ssd, retention, find-person, subject-access.

Signed in (`earlyhelp login`), each asks the web app's staff API, within the person's localities; an ops
machine holding DATABASE_URL and no sign-in reads PostgreSQL itself. Tables for people; `--json` and `--csv`
for machines and spreadsheets.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import asyncpg
import typer
from rich.table import Table
from temporalio.client import Client

from activities import read_model, report, retention
from activities.retention import RetentionRule
from activities.spreadsheet import safe_row
from starter.cli import app, fail, out, reached_directly, run, staff
from starter.staff import remote
from starter.staff.render import when
from starter.staff.report_html import render as render_html
from worker.config import Config, ConfigError
from worker.sealing import Sealer
from worker.temporal import open_database
from workflows.calendar import LONDON


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


JsonFlag = Annotated[bool, typer.Option("--json", help="JSON for machines")]
CsvFlag = Annotated[bool, typer.Option("--csv", help="CSV for spreadsheets")]


def chosen(as_json: bool, as_csv: bool) -> Format:
    if as_json and as_csv:
        fail("choose one of --json and --csv", 2)
    return Format.json if as_json else Format.csv if as_csv else Format.table


def read(path: str, action: Callable[[asyncpg.Connection], Awaitable[Any]], **params: Any) -> Any:
    """Rows from the staff API as the person signed in, or (an ops machine, no sign-in) from PostgreSQL."""
    if remote.signed_in():
        return remote.dated(staff("GET", path, **params))
    return with_db(action)


def with_db(action: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
    reached_directly("DATABASE_URL")

    async def go() -> Any:
        pool = await open_database(Config.from_env())
        try:
            async with pool.acquire() as conn:
                return await action(conn)
        finally:
            await pool.close()

    try:
        return asyncio.run(go())
    except ConfigError as e:
        fail(str(e), 2)


def cell(value: Any) -> str:
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, bool):
        return "yes" if value else ""
    return "-" if value is None else str(value)


def emit(rows: list[dict[str, Any]], fmt: Format, title: str, counted: bool = True) -> None:
    if fmt == Format.json:
        print(json.dumps(rows, indent=2, default=str))
    elif fmt == Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(
            safe_row({k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()}) for r in rows
        )
    else:
        table = Table(title=f"{title}: {len(rows)}" if counted else title, title_justify="left")
        for column in rows[0] if rows else ["-"]:
            table.add_column(column.replace("_", " "))
        for r in rows:
            table.add_row(*(cell(v) for v in r.values()))
        out.print(table)


def duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([hdw])", text.strip())
    if not match:
        fail(f"--within: expected a number and h, d or w (e.g. 7d), got {text!r}", 2)
    amount, unit = int(match[1]), match[2]
    return {"h": timedelta(hours=amount), "d": timedelta(days=amount), "w": timedelta(weeks=amount)}[unit]


@app.command()
def caseload(
    lead: Annotated[str | None, typer.Option(help="a lead practitioner's id")] = None,
    locality: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Open cases: stage, lead, next deadline, overdue deadlines, awaiting approval."""
    rows = read("/caseload", lambda conn: read_model.caseload(conn, lead, locality), lead=lead, locality=locality)
    emit(rows, chosen(as_json, as_csv), "Open cases")


@app.command()
def due(
    overdue: Annotated[bool, typer.Option(help="only deadlines already passed")] = False,
    within: Annotated[str, typer.Option(help="how far ahead: 48h, 7d, 2w")] = "7d",
    lead: Annotated[str | None, typer.Option()] = None,
    locality: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Deadlines overdue and coming up."""
    window = duration(within)
    rows = read(
        "/due",
        lambda conn: read_model.due(
            conn, datetime.now(UTC), overdue=overdue, within=window, lead=lead, locality=locality
        ),
        overdue=overdue,
        within_hours=int(window.total_seconds() // 3600),
        lead=lead,
        locality=locality,
    )
    emit(rows, chosen(as_json, as_csv), "Overdue" if overdue else f"Due within {within} or overdue")


@app.command()
def approvals(
    manager: Annotated[
        str | None, typer.Option(help="the deciding manager (hides their own requests)", envvar="EARLYHELP_USER")
    ] = None,
    locality: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Closures waiting for a manager's decision."""
    emit(
        read("/approvals", lambda conn: read_model.approvals(conn, manager, locality), locality=locality),
        chosen(as_json, as_csv),
        "Awaiting approval",
    )


@app.command("report")
def report_command(
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="first day, YYYY-MM-DD")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="last day, YYYY-MM-DD")],
    locality: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    html: Annotated[Path | None, typer.Option(help="also write the HTML report with charts here")] = None,
) -> None:
    """The protocol's performance figures for a period (and locality)."""
    if end < start:
        fail("--to is before --from", 2)
    fmt = chosen(as_json, as_csv)
    if remote.signed_in():
        answer = staff("GET", "/report", **{"from": f"{start:%Y-%m-%d}", "to": f"{end:%Y-%m-%d}", "locality": locality})
        result = report.Report.model_validate(answer)
    else:
        result = with_db(lambda conn: report.performance(conn, start.date(), end.date(), locality))
    if fmt == Format.json:
        print(result.model_dump_json(indent=2))
    else:
        rows = [{"figure": label, "value": getattr(result, field)} for field, label in report.FIGURES]
        emit(
            rows,
            fmt,
            f"Early Help performance {start:%Y-%m-%d} to {end:%Y-%m-%d}, {locality or 'all localities'}",
            counted=False,
        )
    if html is not None:
        html.write_text(render_html(result))
        print(f"HTML report written to {html}", file=sys.stderr)


@app.command("export-ssd")
def export_ssd(
    out_file: Annotated[Path | None, typer.Option("--out", help="CSV file (default: standard output)")] = None,
) -> None:
    """Early help episodes as the Standard Safeguarding Dataset's ssd_early_help_episodes (CSV)."""
    if remote.signed_in():
        rows = remote.dated(staff("GET", "/ssd-episodes"))
    else:  # an ops machine: the children's references open with the master keys

        async def episodes(client: Client) -> list[dict[str, Any]]:
            pool = await open_database(Config.from_env())
            try:
                async with pool.acquire() as conn:
                    sealer = Sealer(client.data_converter.payload_codec)
                    return await read_model.ssd_early_help_episodes(conn, None, sealer)
            finally:
                await pool.close()

        rows = run(episodes)
    columns = [
        "earl_episode_id",
        "earl_person_id",
        "earl_episode_start_date",
        "earl_episode_end_date",
        "earl_episode_reason",
        "earl_episode_end_reason",
        "earl_episode_organisation",
        "earl_episode_worker_id",
    ]
    stream = out_file.open("w", newline="") if out_file else sys.stdout
    writer = csv.DictWriter(stream, fieldnames=columns)
    writer.writeheader()
    for r in rows:
        writer.writerow(safe_row({k: (v.date().isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}))
    if out_file:
        stream.close()
        print(f"{len(rows)} episodes written to {out_file}", file=sys.stderr)


@app.command("retention")
def retention_command(
    case: Annotated[str | None, typer.Argument(help="a case to decide on, with --keep or --erase")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="keep the case until --review-again-on")] = False,
    erase: Annotated[bool, typer.Option("--erase", help="erase the case now")] = False,
    reason: Annotated[str | None, typer.Option(help="why (kept in the audit log)")] = None,
    review_again_on: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="--keep: when to review it again, YYYY-MM-DD")
    ] = None,
    on: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="list those due by this day (default: today)")
    ] = None,
    locality: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Closed cases due for a retention review (activities/retention.py); with a case, a manager's decision:
    --keep until --review-again-on, or --erase, each with --reason. Nothing is erased without that decision."""
    if case is None:
        day = (on or datetime.now(LONDON)).date()
        rule = RetentionRule.configured(Config.from_env()) if not remote.signed_in() else None
        rows = read(
            "/retention",
            lambda conn: retention.due_for_review(conn, day, rule or RetentionRule(), locality and [locality]),
            on=f"{day:%Y-%m-%d}",
            locality=locality,
        )
        fmt = chosen(as_json, as_csv)
        if fmt == Format.table:
            rows = [r | {"basis": retention.BASIS_WORDS.get(r["basis"], r["basis"])} for r in rows]
        emit(rows, fmt, f"Due for a retention review by {day:%-d %B %Y}")
        return
    if keep == erase:
        fail("a decision is one of --keep and --erase", 2)
    if not reason:
        fail("--reason: say why (it is kept in the audit log)", 2)
    if not remote.signed_in():
        fail("a retention decision is a team manager's: sign in first (earlyhelp login)", 2)
    decision = {"decision": "keep" if keep else "erase", "reason": reason}
    if review_again_on is not None:
        decision["review_again_on"] = f"{review_again_on:%Y-%m-%d}"
    answer = staff("POST", f"/cases/{case}/retention", decision)
    if as_json:
        print(json.dumps(answer))
    else:
        out.print(f"Case {case}: {answer['decision']} by {answer['by']}.")


@app.command("find-person")
def find_person_command(
    family_name: Annotated[str | None, typer.Option(help="as it sounds: Smyth finds Smith")] = None,
    given_name: Annotated[str | None, typer.Option()] = None,
    date_of_birth: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    postcode: Annotated[str | None, typer.Option()] = None,
    nhs_number: Annotated[str | None, typer.Option()] = None,
    upn: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Is this family known? People of your teams' open and closed cases matching every part given, as the web
    app's Find a person (screeners and managers; each search is audited). Signed in only."""
    if not remote.signed_in():
        fail("finding a person goes through the web app: sign in first (earlyhelp login)", 2)
    asked = {"family_name": family_name, "given_name": given_name, "date_of_birth": date_of_birth}
    asked |= {"postcode": postcode, "nhs_number": nhs_number, "upn": upn}
    if not any(asked.values()):
        fail("give at least one of --family-name, --given-name, --date-of-birth, --postcode, --nhs-number, --upn", 2)
    found = remote.dated(staff("GET", "/people", **{k: v for k, v in asked.items() if v}))
    emit(found, chosen(as_json, as_csv), "People found")


@app.command("subject-access")
def subject_access_command(
    person_ref: Annotated[str, typer.Argument(help="the person's reference (Find a person gives it)")],
    out_file: Annotated[Path | None, typer.Option("--out", help="JSON file (default: standard output)")] = None,
) -> None:
    """A subject access export: everything held about one person in your teams' cases, other people redacted
    (JSON; the web app's person view gives the PDF). Each case in it is audited."""
    if not remote.signed_in():
        fail("a subject access export is a team manager's: sign in first (earlyhelp login)", 2)
    answer = staff("GET", f"/people/{quote(person_ref, safe='')}/record")
    text = json.dumps(answer, indent=2)
    if out_file is None:
        print(text)
    else:
        out_file.write_text(text)
        print(f"{len(answer['cases'])} case(s) written to {out_file}", file=sys.stderr)
