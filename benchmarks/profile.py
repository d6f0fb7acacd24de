"""Where the time goes during a measure: py-spy on a worker, and the CPU each process used.

`profiled(pid, name)` samples a process with py-spy for the length of a block and keeps the collapsed
stacks in benchmarks/results/profiles/<name>.txt (a flame graph's input: `flamegraph.pl` or speedscope
read it); `summary` gives the functions with the most samples, by their own time and with what they
call. `cpu(procs)` is the CPU seconds each process (PostgreSQL with its backends) used in a
block, so a ratio can be read against the server's share.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).parent
PROFILES = HERE / "results" / "profiles"  # (tests point it elsewhere: a smoke run's profile is not a result)


@contextlib.contextmanager
def profiled(pid: int, name: str, rate: int = 100) -> Iterator[Path]:
    """py-spy samples `pid` (`rate` a second; threads waiting are left out) until the block ends, without pausing
    it: a pause per sample would slow the worker it measures, and the engine's alone."""
    from benchmarks import profile  # (the module's PROFILES as it is now: tests point it at a folder of theirs)

    profile.PROFILES.mkdir(parents=True, exist_ok=True)
    out = profile.PROFILES / f"{name}.txt"
    spy = Path(sys.executable).with_name("py-spy")
    proc = subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nolineno",
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield out
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes what it sampled on an interrupt
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def summary(path: Path, top: int = 20) -> dict[str, Any]:
    """The functions most sampled: by their own samples (where the CPU was) and inclusive (what under them)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return {"samples": 0}
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * n / total, 1)) for f, n in c.most_common(top)]

    return {
        "samples": total,
        "file": str(path.relative_to(HERE)) if path.is_relative_to(HERE) else str(path),
        "own_pct": share(own),
        "inclusive_pct": share(inclusive),
    }


def postgres(work: Path) -> psutil.Process | None:
    """The embedded PostgreSQL's postmaster under `work` (its backends are its children)."""
    for p in psutil.process_iter(["name", "cmdline"]):
        if p.info["name"] == "postgres" and str(work) in " ".join(p.info["cmdline"] or []):
            parent = p.parent()
            return p if parent is None or parent.name() != "postgres" else parent
    return None


def cpu_seconds(procs: dict[str, psutil.Process]) -> dict[str, float]:
    """CPU (user + system) each process has used so far; PostgreSQL's with its backends (its children)."""
    out = {}
    for name, p in procs.items():
        try:
            family = [p, *p.children(recursive=True)] if name == "postgres" else [p]
            out[name] = sum(q.cpu_times().user + q.cpu_times().system for q in family if q.is_running())
        except psutil.NoSuchProcess:
            out[name] = 0.0
    return out


@contextlib.contextmanager
def cpu(procs: dict[str, psutil.Process], into: dict[str, Any]) -> Iterator[None]:
    """The CPU seconds each process used during the block, into `into`."""
    before = cpu_seconds(procs)
    yield
    after = cpu_seconds(procs)
    into.update({name: round(after[name] - before[name], 2) for name in procs})
