"""Workflow activations run on the worker's own event loop thread, with a watchdog in place of the SDK's thread.

The SDK hands every activation to a thread pool so that it can notice a workflow that never yields (its deadlock
detection, 2 s). Each hand-off costs a thread switch, a wake-up of the event loop through its self-pipe and,
under load, a wait for the GIL of up to its 5 ms switch interval: the engine worker's profile spent about 14% of
its samples in `ThreadPoolExecutor.submit` and the self-pipe (issue #27). Run on the loop's thread, an idle hot
command answered in 9.3 to 10.5 ms against 11.5 to 12.6 (benchmarks.cold_cases, same hour).

What the thread guarded, the watchdog keeps: an activation still running after DEADLOCK_SECONDS is interrupted
(an exception raised in its thread, as the SDK interrupts its own), so its workflow task fails and is retried
later, `earlyhelp doctor` lists the case, and the worker serves every other case meanwhile. Workflow code is
pure and checked before it runs (worker/sandbox.py), so this is for a bug, not for the normal path.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import threading
import time
from collections.abc import Callable
from typing import Any

DEADLOCK_SECONDS = 2.0  # as the SDK's own detection


class ActivationDeadlocked(Exception):
    """Raised inside an activation that ran longer than DEADLOCK_SECONDS: its workflow task fails."""

    def __init__(self, *args: object) -> None:  # (raised by class, with no arguments)
        super().__init__(*(args or ("workflow code ran without yielding for longer than the worker allows",)))


class OnTheLoop(concurrent.futures.ThreadPoolExecutor):
    """The worker's `workflow_task_executor`: runs what the SDK submits (an activation, an eviction) at once on
    the calling thread, the event loop's, and answers with a future already done, which asyncio takes as it is
    (no thread, no wake-up)."""

    def __init__(self, deadlock_seconds: float = DEADLOCK_SECONDS) -> None:
        super().__init__(max_workers=1)  # (its threads are never started: submit runs everything here)
        self.deadlock_seconds = deadlock_seconds
        self._lock = threading.Lock()
        self._running: tuple[int, float] | None = None  # the thread running an activation, and since when
        threading.Thread(target=self._watch, name="activation-watchdog", daemon=True).start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        with self._lock:
            self._running = (threading.get_ident(), time.monotonic())
        try:
            answer.set_result(fn(*args, **kwargs))
        except BaseException as e:  # (the SDK reads it from the future, as from its thread's)
            answer.set_exception(e)
        finally:
            asyncio._set_running_loop(loop)  # an activation runs the workflow's own loop, which unsets this one
            with self._lock:
                self._running = None
        return answer

    def _watch(self) -> None:
        while True:
            time.sleep(self.deadlock_seconds / 4)
            with self._lock:
                if self._running and time.monotonic() - self._running[1] > self.deadlock_seconds:
                    thread, _ = self._running
                    self._running = None  # (interrupted once)
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(
                        ctypes.c_ulong(thread), ctypes.py_object(ActivationDeadlocked)
                    )
