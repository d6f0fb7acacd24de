"""`python -m benchmarks.scale_out [--cases N]`: two workers on one task queue, one of them killed under load.

Two engine workers (`python -m worker`, as production runs them, delivery through the local Notify
stand-in on) share the task queue while clients drive N lifecycle cases (the mix of `python -m benchmarks`)
16 at a time. A third of the way through, one worker is killed (SIGKILL: no graceful shutdown). Measured:
how long the commands sent in the 30 s after the kill took (the longest is the handover: a case the dead
worker held waits for the server to give its next task to the other worker), whether every command
was answered and every case ended, whether every event each case recorded is in `case_events` once, and
whether any message reached Notify twice. Then two web app processes on the same database and signing key (as
behind a council's load balancer): a person signs in through one and works through both, each case note is
recorded once (the same form sent again through the other app, as a browser's retry would, too), and signing
out through one ends the session on both. Writes benchmarks/results/scale-out-<N>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from activities.db import connect as connect_db
from activities.delivery import KINDS
from benchmarks.__main__ import (
    BENCH_ROLES,
    Timings,
    _free_port,
    _free_ports,
    _machine,
    engine_case,
    mix,
    phase,
    pooled,
    servers,
    stop_all,
    temporal_answers,
    trusted_setup,
    wait_for,
    write_results,
)
from starter.local import scripts
from starter.local.notify_standin import api_key
from starter.local.samples import sample_referral
from starter.local.stack import notify_standin_key, start_module, start_notify_standin
from starter.ops.histories import saved_events
from worker.authz import hash_password
from worker.config import Config
from worker.identity import SignCommands, Signer, acting_for, local_mint
from worker.temporal import connect, start_case
from workflows.models import Snapshot

QUEUE = "scale-engine"
AFTER_KILL_SECONDS = 30.0
PASSWORD = "scale-out-only"
NOTES = 10  # case notes through the two web apps, alternately
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FORM_ID = re.compile(r'name="form_id" value="([^"]+)"')


async def run(cases: int) -> dict[str, Any]:
    work, database_url, server, env = servers("earlyhelp-scale-")
    trusted, signing_key = trusted_setup(work)
    # (a password for the lead practitioner, who signs in to the web apps)
    roles = BENCH_ROLES + f'\n[passwords]\n"{scripts.LEAD}" = "{hash_password(PASSWORD)}"\n'
    Path(trusted["EARLYHELP_ROLES_FILE"]).write_text(roles)
    notify_port, notify = _free_port(), notify_standin_key(work)
    procs: list[Any] = [start_notify_standin(work, notify, work / "notify.log", notify_port)]
    trusted |= {
        "EARLYHELP_NOTIFY_API_KEY": api_key(notify["service_id"], notify["secret"]),
        "EARLYHELP_NOTIFY_URL": f"http://127.0.0.1:{notify_port}",
        "EARLYHELP_NOTIFY_TEMPLATES": json.dumps({kind: f"bench-{kind}" for kind in KINDS}),
        "EARLYHELP_TASK_QUEUE": QUEUE,
    }
    try:
        await temporal_answers(env)
        engine_env = {**env, **trusted}
        workers = [psutil.Popen([sys.executable, "-m", "worker"], env=engine_env) for _ in range(2)]
        procs += workers
        pool = await connect_db(database_url)
        signing = [SignCommands(local_mint(Signer.from_file(signing_key), lambda: datetime.now(UTC)))]
        client = await connect(Config.from_env(engine_env), pool=pool, interceptors=signing)
        kinds = mix(cases, seed=29)
        timings = Timings()
        sent_at: list[tuple[float, float]] = []  # (when sent, how long) for every command
        failures: list[str] = []
        ended: list[str] = []
        killed_at: list[float] = []

        class Stamped(list[float]):
            """Each command's round trip, noted with when it was sent (its reply's time less the trip)."""

            def append(self, latency: float) -> None:
                super().append(latency)
                sent_at.append((time.perf_counter() - latency, latency))

        async def case(i: int) -> None:
            case_id = f"SO{i:05d}"
            own = Timings(latencies=Stamped())
            try:
                await engine_case(client, QUEUE, kinds[i], case_id, own)
                ended.append(case_id)
            except Exception as e:  # noqa: BLE001 (counted: a command or a case lost)
                failures.append(f"{case_id}: {type(e).__name__}: {e}"[:300])
            timings.latencies += own.latencies
            timings.commands += own.commands

        async def kill_a_third_of_the_way() -> None:
            while len(ended) < cases // 3:
                await asyncio.sleep(0.2)
            phase(f"killing worker {workers[0].pid} (SIGKILL) with {len(ended)} of {cases} cases ended")
            killed_at.append(time.perf_counter())
            workers[0].send_signal(signal.SIGKILL)

        phase(f"{cases} lifecycle cases, 16 at a time, on two workers")
        killer = asyncio.create_task(kill_a_third_of_the_way())
        elapsed = await pooled(cases, 16, case)
        await killer
        kill = killed_at[0]
        # In flight at the kill or sent in the 30 s after it: how long each waited after the kill (one sent to a
        # case the dead worker held waits until the server gives the case's task to the other worker).
        waited = [
            at + latency - max(at, kill) for at, latency in sent_at if at + latency > kill >= at - AFTER_KILL_SECONDS
        ]
        after = [latency for at, latency in sent_at if kill <= at <= kill + AFTER_KILL_SECONDS]
        before = [latency for at, latency in sent_at if at + latency < kill]

        # Every event each case recorded is saved once; no message went to Notify twice.
        phase("checking what was saved and sent")
        lost_events = 0
        for case_id in ended:  # (from the history, the log of record: no worker needed to answer)
            history = await client.get_workflow_handle(f"case-{case_id}").fetch_history()
            recorded = sorted(e.seq for e in await saved_events(history, client.data_converter))
            seqs = [r["seq"] for r in await pool.fetch("SELECT seq FROM case_events WHERE case_id = $1", case_id)]
            if not recorded or sorted(seqs) != recorded or recorded != list(range(1, len(recorded) + 1)):
                lost_events += 1

        async def all_sent() -> bool:
            return not await pool.fetchval(
                "SELECT count(*) FROM notifications WHERE notify_id IS NULL AND failure IS NULL"
            )

        await wait_for(all_sent, within=600)
        references = Counter(
            json.loads(line)["reference"] for line in (work / "notify-sent.jsonl").read_text().splitlines()
        )
        messages = await pool.fetchval("SELECT count(*) FROM notifications")
        web_key = {"EARLYHELP_SIGNING_KEY": str(signing_key)}
        webs = await two_web_apps(work, {**engine_env, **web_key}, client, procs)
        await pool.close()

        def q(values: list[float], p: float) -> float:
            return round(1000 * sorted(values)[min(len(values) - 1, int(p * len(values)))], 1) if values else 0.0

        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": _machine(),
            "cases": cases,
            "commands": timings.commands,
            "seconds": round(elapsed, 1),
            "cases_ended": len(ended),
            "failures": failures,
            "cases_with_events_missing_or_twice": lost_events,
            "messages_written": messages,
            "messages_sent": len(references),
            "messages_sent_twice": sum(1 for n in references.values() if n > 1),
            "before_kill": {"commands": len(before), "p50_ms": q(before, 0.5), "p99_ms": q(before, 0.99)},
            "after_kill_30s": {"commands": len(after), "p50_ms": q(after, 0.5), "p99_ms": q(after, 0.99)},
            # the longest any command waited after the kill, of those in flight then or sent in the 30 s after
            "handover_ms": q(waited, 1.0),
            "commands_waiting_over_1s_after_kill": sum(1 for w in waited if w > 1),
            "two_web_apps": webs,
        }
    finally:
        stop_all(procs, server)


async def two_web_apps(work: Path, web_env: dict[str, str], client: Any, procs: list[Any]) -> dict[str, Any]:
    """Two `python -m web` processes on the same database and signing key: one person's session through both,
    each command through either recorded once, sign-out through one ending the session on both."""
    ports = _free_ports(2)
    for n, port in enumerate(ports):
        procs.append(start_module("web", {**web_env, "EARLYHELP_WEB_PORT": str(port)}, work / f"web-{n}.log"))
    apps = [f"http://127.0.0.1:{port}" for port in ports]
    # A case of the lead's, allocated to them, to write notes on.
    case_id = f"SOWEB{datetime.now(UTC):%H%M%S}"
    handle = await start_case(client, sample_referral(case_id, datetime.now(UTC)), QUEUE)

    async def send(update: Any, command: Any) -> Snapshot:
        acting_for.set(command.by)
        return await handle.execute_update(update, command, result_type=Snapshot)

    await scripts.allocated(send)
    phase(f"two web apps ({', '.join(apps)}): {NOTES} case notes, alternately, then sign-out through one")
    jar = aiohttp.CookieJar(unsafe=True)  # (cookies for 127.0.0.1: one browser, whichever app answers)
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:

        async def answers(url: str) -> bool:
            try:
                async with browser.get(url + "/healthz") as reply:
                    return reply.status == 200
            except aiohttp.ClientError:
                return False

        for app in apps:
            await wait_for(lambda app=app: answers(app))  # type: ignore[misc]

        async def page(url: str) -> tuple[int, str]:
            async with browser.get(url, allow_redirects=False) as reply:
                return reply.status, await reply.text()

        _, sign_in = await page(apps[0] + "/sign-in")
        form = {"csrf": CSRF.findall(sign_in)[0], "user": scripts.LEAD, "password": PASSWORD}
        async with browser.post(apps[0] + "/sign-in", data=form, allow_redirects=False) as reply:
            signed_in = reply.status in (302, 303)
        answered: list[int] = []
        sent_twice = 0
        for n in range(NOTES):
            app = apps[n % 2]
            status, case_page = await page(f"{app}/cases/{case_id}")
            answered.append(status)
            if status != 200:
                continue
            note = {
                "csrf": CSRF.findall(case_page)[0],
                "form_id": FORM_ID.findall(case_page)[0],
                "text": f"Scale-out note {n}",
            }
            # Sent through this app, and the same form again through the other (a browser's retry).
            for again, target in enumerate((app, apps[(n + 1) % 2])):
                if again and n % 3:
                    break
                sent_twice += again
                async with browser.post(f"{target}/cases/{case_id}/commands/add_case_note", data=note) as reply:
                    answered.append(reply.status)
        timeline = await handle.query("timeline")
        notes = [e for e in timeline if e["type"] == "CaseNoteAdded"]
        _, signed_out_page = await page(f"{apps[1]}/cases/{case_id}")
        async with browser.post(apps[1] + "/sign-out", data={"csrf": CSRF.findall(signed_out_page)[0]}) as reply:
            answered.append(reply.status)
        after, _ = await page(f"{apps[0]}/cases/{case_id}")
    return {
        "web_apps": 2,
        "signed_in_through_one": signed_in,
        "pages_and_commands_answered_200": sum(s == 200 for s in answered),
        "requests": len(answered),
        "notes_sent": NOTES,
        "notes_sent_again_through_the_other_app": sent_twice,
        "notes_recorded": len(notes),
        # after signing out through the second app, the first sends the browser to sign in again
        "signed_out_on_both": after in (302, 303),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    args = parser.parse_args()
    write_results(f"scale-out-{args.cases}", asyncio.run(run(args.cases)))


if __name__ == "__main__":
    main()
