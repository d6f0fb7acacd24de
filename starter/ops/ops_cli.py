"""Ops commands of `earlyhelp`: replay, history export, rebuild, doctor, schedules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from temporalio.client import WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from starter.cli import app, err, fail, out, run, workflow_id
from starter.ops import histories as ops
from starter.staff.manager_cli import with_db
from worker.config import Config, ConfigError
from worker.sealing import Sealer
from worker.temporal import data_converter

history_app = typer.Typer(help="Case histories: export them as JSON.", no_args_is_help=True)
app.add_typer(history_app, name="history")

QueryOption = Annotated[
    str | None,
    typer.Option("--query", help="a visibility query, e.g. \"CaseStage = 'plan_active'\" (default: every case)"),
]


def needs_master_keys(command: str) -> None:
    """Replay and rebuild decode every case: they run where the workers run, with the master keys, never
    through the codec server (which decides, and audits, per person and per case)."""
    config = Config.from_env()
    if config.codec_url and not (config.keys_file or config.master_key):
        fail(
            f"{command} decodes every case's history, so it needs the master keys (EARLYHELP_KEYS_FILE): run it "
            "where the workers run, not through the codec server",
            2,
        )


@app.command("replay")
def replay_command(
    query: QueryOption = None,
    folder: Annotated[Path | None, typer.Option("--dir", help="replay JSON histories from this folder instead")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, max=256, help="processes to replay in (default: this machine's cores; 1: this one)"
        ),
    ] = None,
) -> None:
    """Replay case histories against the current workflow code: run before every deploy (needs the master keys)."""
    from starter.ops import parallel_replay

    needs_master_keys("replay")
    if folder is not None and not folder.is_dir():
        fail(f"--dir: {folder} is not a folder", 2)
    workers = workers or parallel_replay.default_workers()

    with Progress(
        TextColumn("Replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=None)

        def advance(result: ops.ReplayResult) -> None:
            progress.update(task, advance=1, description=result.workflow_id)
            if result.failure:
                progress.console.print(
                    f"[red]NON-DETERMINISTIC[/] {result.workflow_id} run {result.run_id}: "
                    f"first divergence at {result.diverged_at}",
                    highlight=False,
                )

        if workers > 1:
            items = (
                parallel_replay.dir_items(folder)
                if folder is not None
                else run(lambda client: parallel_replay.server_items(client, query))
            )
            progress.update(task, total=len(items))
            results = parallel_replay.replay_in_parallel(items, workers, advance)
        elif folder is not None:
            results = asyncio.run(_replay_folder(folder, advance))
        else:
            results = run(
                lambda client: ops.replay(ops.server_histories(client, query), client.data_converter, advance)
            )
    failed = [r for r in results if r.failure]
    out.print(
        f"Replayed {len(results)} histories: {len(results) - len(failed)} ok, {len(failed)} non-deterministic"
        f" ({workers} process{'es' if workers > 1 else ''})."
    )
    if not results:
        fail("no histories found", 1)
    if failed:
        raise typer.Exit(1)


async def _replay_folder(folder: Path, advance) -> list[ops.ReplayResult]:
    try:
        converter = await data_converter(Config.from_env())
    except ConfigError as e:
        fail(str(e), 2)
    return await ops.replay(ops.dir_histories(folder), converter, advance)


@history_app.command("export")
def history_export(
    case: Annotated[str | None, typer.Argument(help="the case id (or --all)")] = None,
    every: Annotated[bool, typer.Option("--all", help="every case")] = False,
    out_dir: Annotated[Path, typer.Option("--out", help="the folder to write into")] = Path("histories"),
) -> None:
    """Write case histories as JSON, in the Temporal CLI's format, one file per run."""
    if (case is None) == (not every):
        fail("give a case id or --all (not both)", 2)
    query = None if every else f"WorkflowId = '{workflow_id(case or '')}'"
    written = run(lambda client: ops.export(client, query, out_dir))
    if not written:
        fail(f"no history found for {case}", 1)
    out.print(f"Wrote {len(written)} histories to {out_dir}")


@app.command()
def rebuild(query: QueryOption = None) -> None:
    """Drop the read model and rebuild it from the histories on the server (not from its own tables); needs the
    master keys. An erased case is rebuilt from the facts kept of it."""
    needs_master_keys("rebuild")

    async def collect(client) -> tuple[dict, Sealer]:
        cases = await ops.events_by_case(ops.server_histories(client, query), client.data_converter)
        return cases, Sealer(client.data_converter.payload_codec)  # the references' blind indexes

    with err.status("Reading histories..."):
        cases, sealer = run(collect)
    with err.status(f"Projecting {len(cases)} cases..."):
        result: ops.Rebuilt = with_db(lambda conn: ops.rebuild(conn, cases, everything=query is None, sealer=sealer))
    out.print(
        f"Rebuilt the read model of {result.cases} cases from {result.events} events in their histories"
        + (f" ({result.erased} erased: from the facts kept of them)." if result.erased else ".")
    )
    if result.missing_from_store:
        err.print(
            f"[yellow]warning:[/] {result.missing_from_store} events in the histories are not in case_events "
            "yet (saves still in flight, or a restored database)."
        )


@app.command()
def doctor(query: QueryOption = None) -> None:
    """Open cases that need ops: failing workflow tasks, activities retrying past 10 attempts, saves that cannot
    succeed, events not in the case store; and messages whose delivery ended failed on the service's side in
    the last week. Exit 1 if any."""
    from starter.ops.doctor import examine
    from worker.temporal import open_database

    async def go(client) -> list:
        pool = await open_database(Config.from_env())
        try:
            return await examine(client, pool, query)
        finally:
            await pool.close()

    with err.status("Examining open cases..."):
        findings = run(go)
    for f in findings:
        out.print(f"{f.case_id}\t{f.problem}\t{f.detail}\n  what to do: {f.action}", highlight=False)
    out.print(f"{len(findings)} problem(s) found." if findings else "No problems found: every open case can proceed.")
    if findings:
        raise typer.Exit(1)


@app.command()
def patches(
    query: QueryOption = None,
    folder: Annotated[Path | None, typer.Option("--dir", help="read JSON histories from this folder instead")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts")] = False,
    move_on: Annotated[
        bool,
        typer.Option(
            "--move-on",
            help="then send each open run that still needs an old branch the move_to_new_run signal: it "
            "continues as a new run, on the newest code, at its next quiet point (run after each deploy)",
        ),
    ] = False,
) -> None:
    """Each patch of the case workflow, and how many open runs still need its old branch (needs the master
    keys): a patch whose count is 0 can be retired (docs/operations.md "Patches")."""
    import json

    from workflows.patches import PATCHES

    needs_master_keys("patches")
    cases = [p for p in PATCHES if p.workflow == "EarlyHelpCase"]
    open_runs = f"ExecutionStatus = 'Running'{f' AND ({query})' if query else ''}"

    if move_on and folder is not None:
        fail("--move-on moves open runs on the server: it cannot be used with --dir", 2)
    held_back: set[str] = set()  # workflow ids of the runs that still need an old branch

    async def count(histories: list[WorkflowHistory], converter) -> dict[str, int]:
        async def each() -> AsyncIterator[WorkflowHistory]:
            for history in histories:
                yield history

        needing = {}
        for patch in cases:
            with ops.old_branch_deleted(patch.id):
                failed = [r.workflow_id for r in await ops.replay(each(), converter) if r.failure]
            needing[patch.id] = len(failed)
            if patch.old_branch_golden is not None:  # (an unproven count moves nothing: see the docs)
                held_back.update(failed)
        return needing

    async def from_server(client) -> tuple[int, dict[str, int]]:
        histories = [h async for h in ops.server_histories(client, open_runs)]
        needing = await count(histories, client.data_converter)
        if move_on:
            for workflow_id in sorted(held_back):
                await client.get_workflow_handle(workflow_id).signal("move_to_new_run")
        return len(histories), needing

    async def from_folder() -> tuple[int, dict[str, int]]:
        converter = await data_converter(Config.from_env())
        histories = [h async for h in ops.dir_histories(folder)]
        return len(histories), await count(histories, converter)

    with err.status("Replaying each open run with each patch's old branch deleted"):
        total, needing = asyncio.run(from_folder()) if folder is not None else run(from_server)
    if as_json:
        rows = [
            {
                "patch": p.id,
                "change": p.change,
                "runs_needing_old_branch": needing[p.id],
                "old_branch_golden": p.old_branch_golden,
                "retire_when": p.retire_when,
            }
            for p in cases
        ]
        moved = sorted(held_back) if move_on else []
        out.print_json(json.dumps({"histories_read": total, "patches": rows, "moved_on": moved}))
        return
    what = "histories" if folder is not None else "open runs"
    out.print(f"{total} {what} read.")
    for p in cases:
        n = needing[p.id]
        verdict = f"{n} of them still need{'s' if n == 1 else ''} its old branch" if n else "none needs its old branch"
        if p.old_branch_golden is None:  # the count is not proven by a golden: say why
            verdict += f" (unproven: {p.no_golden_because})"
        elif n == 0:
            verdict += ": it can be retired"
        out.print(f"{p.id}: {p.change}. {verdict}.", highlight=False)
    if move_on:
        out.print(f"{len(held_back)} open run(s) moved on: each continues as a new run at its next quiet point.")


@app.command()
def schedules(
    create: Annotated[
        bool,
        typer.Option(
            "--create", help="create any of the service's schedules that are missing (the worker does so at start)"
        ),
    ] = False,
) -> None:
    """The service's Temporal Schedules (outbox sweep, daily digests) for this task queue: when each runs next."""
    from worker.main import ensure_schedules
    from worker.main import schedules as wanted

    async def go(client) -> list[tuple[str, str, str]]:
        queue = Config.from_env().task_queue
        if create:
            await ensure_schedules(client, queue)
        rows = []
        for schedule_id in wanted(queue):
            try:
                described = await client.get_schedule_handle(schedule_id).describe()
            except RPCError as e:
                if e.status != RPCStatusCode.NOT_FOUND:
                    raise
                rows.append((schedule_id, "missing", "the worker creates it when it starts (or --create)"))
                continue
            upcoming = described.info.next_action_times[:1]
            paused = described.schedule.state.paused
            rows.append(
                (
                    schedule_id,
                    "paused" if paused else "active",
                    f"next run {upcoming[0]:%Y-%m-%d %H:%M} UTC" if upcoming else "no run to come",
                )
            )
        return rows

    for schedule_id, state, detail in run(go):
        out.print(f"{schedule_id}\t{state}\t{detail}", highlight=False)
