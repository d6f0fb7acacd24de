"""What the project's long-running processes (worker, web app) share: how they start and stop."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

from worker.config import Config, ConfigError


def stop_on_signals(stop: asyncio.Event | None = None) -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for a graceful stop (call inside the running loop)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def run(serve: Callable[[Config], Awaitable[None]], name: str) -> None:
    """Run a process configured from the environment; a configuration error exits 2 naming its variable."""
    try:
        asyncio.run(serve(Config.from_env()))
    except ConfigError as e:
        print(f"earlyhelp {name}: {e}", file=sys.stderr)
        sys.exit(2)
