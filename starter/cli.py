"""`earlyhelp`: the command line for practitioners, managers and ops.

One command per update of docs/contract.md, generated from the command models so
the CLI can never drift from the contract: `earlyhelp record-taf CASE --by
lp-1 --held-at ... --actions '[...]'`. Friendly forms for managers:
`earlyhelp approve CASE --manager tm-1 --reason ...` and `refuse`. Bad input
is refused before anything is sent; a command the engine refuses prints the
rule that refused it. Exit codes: 0 done, 1 refused by the engine or not
found, 2 bad input or configuration.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import types
import typing
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError
from rich.console import Console
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities import read_model
from starter.staff import remote, render, session
from starter.staff.annotations import choices, unwrap
from worker import temporal
from worker.codec import CaseErased
from worker.config import Config, ConfigError
from worker.identity import acting_for
from worker.remote_codec import CodecRefused
from worker.sealing import Sealer
from worker.temporal import connect, new_update_id, open_database, send_command, signing_interceptors
from workflows import search
from workflows.bounds import concern_parts, refusal
from workflows.case import EarlyHelpCase
from workflows.models import (
    TERMINAL_STAGES,
    CaseOutcome,
    DecideClosure,
    Event,
    Referral,
    SafeguardingConcern,
    Snapshot,
    Stage,
)
from workflows.pathway import STEPS

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="earlyhelp: drive and inspect Early Help cases (see README.md)."
)
out = Console()
err = Console(stderr=True)
BY_HELP = "who acts: your staff id (or set EARLYHELP_USER)"
IDEMPOTENCY_HELP = (
    "the command's update id (default: a new one each run); send a command again with the same "
    "key and it is recorded once"
)
IdempotencyKey = Annotated[str | None, typer.Option("--idempotency-key", help=IDEMPOTENCY_HELP)]


def fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


workflow_id = temporal.case_workflow_id
# How long `timeline` waits for the case's recorded events to be saved (milliseconds normally; a worker that
# restarts replays and saves first).
SAVED_WITHIN = 30.0


def reached_directly(variable: str) -> None:
    """Without a sign-in, a command reaches Temporal or PostgreSQL itself: only where the environment names
    them (an ops machine). A staff machine has only the web app's URL: it signs in, and goes through it."""
    if variable not in os.environ and remote.signed_in() is None:
        fail(
            f"sign in first (earlyhelp login --web URL): staff commands go through the web app; {variable} "
            "is set only on an ops machine, for the commands that need Temporal or PostgreSQL themselves",
            2,
        )


def run(action: Callable[[Client], Awaitable[Any]]) -> Any:
    """Connect with the environment's configuration and run one action, mapping failures to clear errors."""

    reached_directly("TEMPORAL_ADDRESS")

    async def go() -> Any:
        config = Config.from_env()
        # The signing key's holder (the local stack's seeding) signs for itself; a person goes through the web app.
        signing = signing_interceptors(config)
        signed_in = session.Session.load()
        return await action(await connect(config, interceptors=signing, token=signed_in and signed_in.token))

    try:
        return asyncio.run(go())
    except ConfigError as e:
        fail(str(e), 2)
    except session.SignInFailed as e:
        fail(f"the web app would not sign this command ({e}): sign in again with `earlyhelp login`", 1)
    except CaseErased as e:
        fail(str(e), 1)
    except CodecRefused as e:
        fail(str(e), 1)
    except WorkflowQueryFailedError as e:  # e.g. the worker cannot encode the answer of an erased case
        fail(f"the case did not answer: {e.message}", 1)
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        fail(f"refused: {getattr(cause, 'message', cause)}", 1)
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            fail("no such case (or it has finished and can no longer take commands)", 1)
        fail(f"Temporal: {e.message}", 1)


def staff(method: str, path: str, body: Any = None, **params: Any) -> Any:
    """A call to the web app's staff API as the person signed in (the staff CLI's one door)."""
    signed_in = remote.signed_in()
    if signed_in is None:
        fail("sign in first (earlyhelp login)", 2)
    try:
        return remote.call(signed_in, method, path, body, **params)
    except remote.Refused as e:
        fail(("refused: " if e.status == 422 else "") + e.message, 2 if e.status == 400 else 1)


def parse(model: type[BaseModel], payload: dict[str, Any]) -> Any:
    """Validated here with the workflow's own models: the same refusal, before anything is sent."""
    try:
        return model.model_validate(payload)
    except ValidationError as e:
        fail(f"invalid {model.__name__}: {refusal(e)}", 2)


def print_snapshot(snap: Snapshot, as_json: bool) -> None:
    if as_json:
        print(snap.model_dump_json(indent=2))
    else:
        out.print(render.snapshot(snap))


# --- updates: one command each, generated from the contract's models ---------------


def _option_type(annotation: Any) -> tuple[Any, bool]:
    """The CLI type of a model field, and whether its value is given as JSON."""
    annotation = unwrap(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):  # several types: only JSON says which
        return str, True
    if annotation in (bool, int, str):
        return annotation, False
    if origin is list:
        _, as_json = _option_type(args[0])
        return (str, True) if as_json else (list[str], False)
    if origin is typing.Literal or isinstance(annotation, type) and issubclass(annotation, str):
        return str, False
    if annotation in (datetime, date, AwareDatetime):
        return str, False
    return str, True


def _field_help(name: str, field: Any, as_json: bool) -> str:
    annotation = field.annotation
    parts = [field.description or name.replace("_", " ")]
    if allowed := choices(annotation):
        parts.append("one of: " + ", ".join(allowed))
    if as_json:
        parts.append("as JSON")
    if unwrap(annotation) is AwareDatetime:
        parts.append("ISO 8601 with offset, e.g. 2026-03-10T14:30:00+00:00")
    elif unwrap(annotation) is date:
        parts.append("YYYY-MM-DD")
    return "; ".join(parts)


def update_command(update_name: str, model: type[BaseModel]) -> Callable[..., None]:
    params = [
        inspect.Parameter(
            "case",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=str,
            default=typer.Argument(..., help="the case id"),
        )
    ]
    json_fields: set[str] = set()
    for name, field in model.model_fields.items():
        cli_type, as_json = _option_type(field.annotation)
        if as_json:
            json_fields.add(name)
        flag = name.replace("_", "-")
        option = typer.Option(
            None,
            f"--{flag}/--no-{flag}" if cli_type is bool else f"--{flag}",
            help=BY_HELP if name == "by" else _field_help(name, field, as_json),
            envvar="EARLYHELP_USER" if name == "by" else None,
        )
        params.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=cli_type | None, default=option)
        )
    params.append(
        inspect.Parameter(
            "as_json",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=bool,
            default=typer.Option(False, "--json", help="print the snapshot as JSON"),
        )
    )
    params.append(
        inspect.Parameter(
            "idempotency_key",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=str | None,
            default=typer.Option(None, "--idempotency-key", help=IDEMPOTENCY_HELP),
        )
    )

    def command(case: str, as_json: bool = False, idempotency_key: str | None = None, **options: Any) -> None:
        payload: dict[str, Any] = {}
        for name, value in options.items():
            if value is None or value == []:
                continue
            if name in json_fields:
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as e:
                    fail(f"--{name.replace('_', '-')} is not valid JSON: {e}", 2)
            payload[name] = value
        if "by" not in payload and (signed_in := session.Session.load()):
            payload["by"] = signed_in.person
        print_snapshot(send(case, update_name, parse(model, payload), idempotency_key), as_json)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return command


def send(case: str, update_name: str, command: BaseModel, idempotency_key: str | None = None) -> Snapshot:
    """One command per invocation, under one update id: a retry (ours, or yours with the same
    --idempotency-key) is recorded once."""
    update_id = idempotency_key or new_update_id()
    if remote.signed_in():
        body = command.model_dump(mode="json")
        answer = staff("POST", f"/cases/{case}/commands/{update_name}", body, idempotency_key=update_id)
        return Snapshot.model_validate(answer)

    async def go(client: Client) -> Snapshot:
        acting_for.set(getattr(command, "by", None))  # only where this process holds the signing key
        return await send_command(client, case, update_name, command, update_id)

    return run(go)


for _model, _step in STEPS.items():
    app.command(_step.name.replace("_", "-"), help=(_model.__doc__ or "").strip())(update_command(_step.name, _model))


def _decide(
    case: str, manager: str | None, reason: str | None, approve: bool, as_json: bool, idempotency_key: str | None
) -> None:
    if manager is None and (signed_in := session.Session.load()):
        manager = signed_in.person
    decision = parse(DecideClosure, {"by": manager, "approve": approve, "reason": reason})
    print_snapshot(send(case, "decide_closure", decision, idempotency_key), as_json)


@app.command()
def approve(
    case: str,
    manager: Annotated[str | None, typer.Option(help="the deciding manager's id", envvar="EARLYHELP_USER")] = None,
    reason: Annotated[str | None, typer.Option(help="why")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """A manager approves the pending closure (decide_closure, approve)."""
    _decide(case, manager, reason, True, as_json, idempotency_key)


@app.command()
def refuse(
    case: str,
    manager: Annotated[str | None, typer.Option(help="the deciding manager's id", envvar="EARLYHELP_USER")] = None,
    reason: Annotated[str | None, typer.Option(help="why, and what should happen instead")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """A manager refuses the pending closure (decide_closure, refuse)."""
    _decide(case, manager, reason, False, as_json, idempotency_key)


@app.command("login")
def login_command(
    web_url: Annotated[
        str, typer.Option("--web", envvar="EARLYHELP_WEB_URL", help="the web app that signs you in")
    ] = "http://127.0.0.1:8080",
    user: Annotated[str | None, typer.Option(help="your staff id")] = None,
    token: Annotated[
        bool,
        typer.Option(
            "--token",
            help="sign in with a command line sign-in made in the web app (Account: command line), for people who "
            "sign in with their council account",
        ),
    ] = False,
) -> None:
    """Sign in (your web app password, or --token); every command then goes through the web app as you."""
    if token:
        pasted = os.environ.get("EARLYHELP_LOGIN_TOKEN") or typer.prompt("Command line sign-in", hide_input=True)
        candidate = session.Session("", pasted.strip(), web_url.rstrip("/"))
        try:
            me = remote.call(candidate, "GET", "/me")
        except remote.Refused as e:
            fail(f"not signed in: {e.message}", 1)
        path = session.Session(me["person"], candidate.token, candidate.web_url).save()
        out.print(f"Signed in as {me['person']} (kept in {path}, readable by you only).")
        return
    person = user or typer.prompt("Staff id")
    password = os.environ.get("EARLYHELP_PASSWORD") or typer.prompt("Password", hide_input=True)
    try:
        signed_in = asyncio.run(session.login(web_url, person, password))
    except session.SignInFailed as e:
        fail(f"not signed in: {e}", 1)
    path = signed_in.save()
    out.print(f"Signed in as {signed_in.person} for 12 hours (kept in {path}, readable by you only).")


@app.command("logout")
def logout_command() -> None:
    """Forget this machine's sign-in."""
    session.session_file().unlink(missing_ok=True)
    out.print("Signed out.")


# --- starting a case ------------------------------------------------------------------


def _need(text: str) -> dict[str, Any]:
    code, _, rest = text.partition(":")
    simple, _, description = rest.partition(":")
    return {"code": code, "complex": simple.lower() != "simple", "description": description}


@app.command()
def refer(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="a Referral as JSON ('-' for stdin)")] = None,
    case_id: Annotated[str | None, typer.Option(help="the case id")] = None,
    locality: Annotated[str | None, typer.Option(help="the locality (advice point)")] = None,
    family_ref: Annotated[str | None, typer.Option(help="the family's reference in the case system")] = None,
    need: Annotated[
        list[str] | None, typer.Option(help="CODE[:simple][:description], repeatable; complex unless ':simple'")
    ] = None,
    referrer_name: Annotated[str | None, typer.Option()] = None,
    referrer_agency: Annotated[str | None, typer.Option()] = None,
    referrer_contact: Annotated[str | None, typer.Option()] = None,
    consent: Annotated[bool, typer.Option(help="the family's consent is recorded")] = False,
    consent_form: Annotated[str | None, typer.Option(help="the consent form's reference")] = None,
    safeguarding: Annotated[bool, typer.Option(help="immediate safeguarding identified")] = False,
    previous_referrals: Annotated[int, typer.Option(min=0)] = 0,
    by: Annotated[str | None, typer.Option(help=BY_HELP, envvar="EARLYHELP_USER")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Start a case from a referral (route 'referral'; use --file for a step-down)."""
    if file is not None:
        try:
            payload = json.loads(sys.stdin.read() if str(file) == "-" else file.read_text())
        except (OSError, json.JSONDecodeError) as e:
            fail(f"--file: cannot read a Referral from {file}: {e}", 2)
    else:
        payload = {
            "case_id": case_id,
            "locality": locality,
            "received_at": datetime.now(UTC).isoformat(),
            "family": {"family_ref": family_ref} if family_ref else None,
            "referrer": {"name": referrer_name, "agency": referrer_agency, "contact": referrer_contact},
            "needs": [_need(n) for n in need or []],
            "consent": {"given": consent, "recorded_by": by if consent else None, "form_ref": consent_form},
            "immediate_safeguarding": safeguarding,
            "previous_referrals": previous_referrals,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
    referral: Referral = parse(Referral, payload)
    if remote.signed_in():  # validated here too, then started by the web app for the person signed in
        print_snapshot(Snapshot.model_validate(staff("POST", "/referrals", payload)), as_json)
        return
    print_snapshot(run(lambda client: start_case(client, referral)), as_json)


async def start_case(client: Client, referral: Referral, task_queue: str | None = None) -> Snapshot:
    """Start a case's workflow, then read its first snapshot."""
    try:
        handle = await temporal.start_case(client, referral, task_queue or Config.from_env().task_queue)
    except WorkflowAlreadyStartedError:
        fail(f"case_id: a case {referral.case_id} exists already (a case id is never reused): nothing was recorded", 1)
    return await handle.query(EarlyHelpCase.snapshot)


# --- safeguarding, queries, listing -----------------------------------------------------


@app.command("safeguarding")
def safeguarding_concern(
    case: str,
    details: Annotated[str | None, typer.Option(help="what was seen or said")] = None,
    by: Annotated[str | None, typer.Option(help=BY_HELP, envvar="EARLYHELP_USER")] = None,
) -> None:
    """Raise a safeguarding concern: never refused, acted on at once (signal). Control characters are sent
    as �, and a concern over 10,000 characters in numbered parts."""
    if remote.signed_in():  # sent for the person signed in; a different --by is kept in the words
        sent = staff("POST", f"/cases/{case}/safeguarding", {"details": details or "", "by": by})
        parts_said = f" in {sent['parts']} parts" if sent["parts"] > 1 else ""
        out.print(f"Safeguarding concern sent to case {case}{parts_said}: referred to MASH without delay.")
        return
    parts = concern_parts(details or "")
    concerns = [parse(SafeguardingConcern, {"by": by, "details": part}) for part in parts]

    async def go(client: Client) -> None:
        handle = client.get_workflow_handle(workflow_id(case))
        await handle.describe()  # a clear 'no such case' before signalling
        for concern in concerns:
            await handle.signal(EarlyHelpCase.safeguarding_concern, concern)

    run(go)
    sent = f" in {len(parts)} parts" if len(parts) > 1 else ""
    out.print(f"Safeguarding concern sent to case {case}{sent}: referred to MASH without delay.")


@app.command()
def status(case: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The case's snapshot: stage, lead, needs, deadlines, pending approval."""
    if remote.signed_in():
        print_snapshot(Snapshot.model_validate(staff("GET", f"/cases/{case}")), as_json)
        return
    print_snapshot(
        run(lambda client: client.get_workflow_handle(workflow_id(case)).query(EarlyHelpCase.snapshot)), as_json
    )


@app.command()
def timeline(
    case: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    from_history: Annotated[
        bool,
        typer.Option("--from-history", help="build it from the case's histories (every run), not the timeline query"),
    ] = False,
) -> None:
    """The case's domain events in order: who did what, when."""
    if from_history:
        from starter.ops import histories as ops

        async def chronology(client: Client) -> list[Any]:
            found = [h async for h in ops.server_histories(client, f"WorkflowId = '{workflow_id(case)}'")]
            found.sort(key=lambda h: h.events[0].event_time.ToDatetime())
            return await ops.chronology(found, client.data_converter)

        entries = run(chronology)
        if not entries:
            fail(f"no history found for case {case}", 1)
        if as_json:
            print(json.dumps([vars(e) for e in entries], indent=2))
        else:
            out.print(render.chronology(case, entries))
        return

    if remote.signed_in():
        events = TypeAdapter(list[Event]).validate_python(staff("GET", f"/cases/{case}/timeline"))
        if as_json:
            print(json.dumps([e.model_dump(mode="json") for e in events], indent=2))
        else:
            out.print(render.timeline(case, events))
        return

    async def every_run(client: Client) -> list[Event]:
        snap = await client.get_workflow_handle(workflow_id(case)).query(EarlyHelpCase.snapshot)
        pool = await open_database(Config.from_env())
        try:
            async with pool.acquire() as conn:  # the whole timeline is PostgreSQL's (README "Bounded history")
                if not await read_model.saved_up_to(conn, case, snap.events, within=SAVED_WITHIN):
                    err.print(
                        f"[yellow]warning:[/] the case has recorded {snap.events} events and not all are saved "
                        "yet (a worker restarting?): the latest may be missing below",
                        highlight=False,
                    )
                return await read_model.timeline(conn, case, Sealer(client.data_converter.payload_codec))
        finally:
            await pool.close()

    events = run(every_run)
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in events], indent=2))
    else:
        out.print(render.timeline(case, events))


@app.command("list")
def list_cases(
    stage: Annotated[str | None, typer.Option(help="only cases in this stage")] = None,
    locality: Annotated[str | None, typer.Option()] = None,
    lead: Annotated[str | None, typer.Option(help="lead practitioner id")] = None,
    overdue: Annotated[bool, typer.Option(help="only cases with a deadline already passed")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 200,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Cases by stage, locality, lead or overdue deadline (search attributes)."""
    if stage is not None and stage not in Stage.__members__:
        fail(f"--stage: {stage!r} is not a stage; one of: {', '.join(Stage)}", 2)
    if remote.signed_in():  # the cases the web app's case list shows this person
        ended = "closed" if stage in TERMINAL_STAGES else None  # (the case list's "closed cases")
        found = staff(
            "GET", "/cases", stage=stage, locality=locality, lead=lead, overdue=overdue, status=ended, per_page=limit
        )
        rows = [
            {"case_id": r["case_id"], "status": "ENDED" if r["ended_at"] else "RUNNING", "stage": r["stage"]}
            | {"locality": r["locality"]}
            | {"lead": r["lead"], "next_deadline": r["next_deadline"]}
            for r in remote.dated(found["rows"])
        ]
    else:
        query = list_query(stage, locality, lead, datetime.now(UTC) if overdue else None)
        rows = run(lambda client: list_rows(client, query, limit))
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        out.print(render.case_list(rows))


def list_query(stage: str | None, locality: str | None, lead: str | None, overdue_at: datetime | None) -> str:
    def quoted(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    clauses = ["WorkflowType = 'EarlyHelpCase'"]
    for key, value in ((search.CASE_STAGE, stage), (search.LOCALITY, locality), (search.LEAD_PRACTITIONER, lead)):
        if value is not None:
            clauses.append(f"{key.name} = {quoted(value)}")
    if overdue_at is not None:
        clauses.append(f"{search.NEXT_DEADLINE.name} < {quoted(overdue_at.isoformat())}")
    return " AND ".join(clauses)


async def list_rows(client: Client, query: str, limit: int) -> list[dict[str, Any]]:
    rows = []
    async for wf in client.list_workflows(query, limit=limit):
        sa = wf.typed_search_attributes
        rows.append(
            {
                "case_id": wf.id.removeprefix("case-"),
                "status": wf.status.name if wf.status else None,
                "stage": sa.get(search.CASE_STAGE),
                "locality": sa.get(search.LOCALITY),
                "lead": sa.get(search.LEAD_PRACTITIONER),
                "next_deadline": sa.get(search.NEXT_DEADLINE),
            }
        )
    return rows


@app.command()
def schema(name: Annotated[str | None, typer.Argument(help="one model, e.g. Referral or record_taf")] = None) -> None:
    """Print the JSON Schemas of the contract (start input, commands, signal, queries, result)."""
    models: dict[str, Any] = {
        "Referral": Referral,
        "SafeguardingConcern": SafeguardingConcern,
        "Snapshot": Snapshot,
        "CaseOutcome": CaseOutcome,
        "timeline": list[Event],
    }
    models |= {step.name: model for model, step in STEPS.items()}
    if name is not None:
        if name not in models:
            fail(f"no model {name!r}; one of: {', '.join(models)}", 2)
        models = {name: models[name]}
    print(json.dumps({k: TypeAdapter(v).json_schema() for k, v in models.items()}, indent=2))


@app.command()
def worker() -> None:
    """Run a worker (the same as `python -m worker`), configured from the environment."""
    from worker.main import main

    main()


@app.command("web")
def web_command() -> None:
    """Serve the web app for managers and practitioners (EARLYHELP_WEB_PORT), configured from the environment."""
    from web.main import main

    main()


@app.command()
def up(
    data_dir: Annotated[Path, typer.Option(help="where Temporal's SQLite file and PostgreSQL's data live")] = Path(
        ".data"
    ),
    demo: Annotated[bool, typer.Option(help="seed the demo caseload on first start")] = True,
    port: Annotated[int, typer.Option(help="Temporal's gRPC port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="the Temporal Web UI's port")] = 8233,
    web_port: Annotated[int, typer.Option(help="the web app's port")] = 8080,
    reset: Annotated[bool, typer.Option(help="delete the data directory first: start afresh")] = False,
) -> None:
    """Run the whole engine locally: Temporal dev server, PostgreSQL, a worker and the web app. Ctrl-C stops it all."""
    from starter.local.stack import run_local

    try:
        run_local(data_dir, demo=demo, port=port, ui_port=ui_port, web_port=web_port, reset=reset)
    except ConfigError as e:
        fail(str(e), 2)


@app.command("demo")
def demo_command(
    cases: Annotated[int, typer.Option(min=1, help="how many families")] = 36,
    seed: Annotated[int, typer.Option(help="the generator's seed")] = 7,
) -> None:
    """Seed a realistic caseload across the localities and all routes, with progress shown."""
    from starter.local.demo import seed_caseload

    config = Config.from_env()

    async def seed(client: Client) -> int:
        pool = await temporal.open_database(config)  # (each family's consent form is kept on its case)
        try:
            return await seed_caseload(client, cases, seed, config.task_queue, pool)
        finally:
            await pool.close()

    count = run(seed)
    out.print(f"Seeded {count} cases.")


# The read-model, ops and data-protection commands register themselves on `app`.
from starter.ops import ops_cli, protection_cli  # noqa: E402, F401
from starter.staff import manager_cli, team_cli  # noqa: E402, F401

if __name__ == "__main__":
    app()
