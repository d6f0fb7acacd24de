"""The worker process: runs `EarlyHelpCase` workflows and the case store's activities.

`python -m worker` (or `earlyhelp worker`). Configured from the environment
(worker/config.py); applies migrations at start; serves Prometheus metrics;
on SIGTERM or SIGINT stops polling and lets in-flight activities finish.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import structlog
from notifications_python_client.notifications import NotificationsAPIClient
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.delivery import DeliveryActivities, Directory
from activities.digest import DigestActivities
from activities.effects import Letterhead
from activities.mash import MashActivities
from activities.store import CaseActivities
from worker import logs
from worker.activations import OnTheLoop
from worker.authz import Authorization, Roles
from worker.config import Config, ConfigError
from worker.identity import Verifier
from worker.keys import MasterKeys
from worker.process import run, stop_on_signals
from worker.sandbox import workflow_runner
from worker.sealing import Sealer
from worker.temporal import connect, ensure_search_attributes, open_database, patiently
from workflows.case import EarlyHelpCase
from workflows.delivery import Delivery, OutboxSweep
from workflows.digest import DIGEST_SCHEDULE, DailyDigest
from workflows.mash import MashReferralWatch


def authorization(config: Config) -> Authorization | None:
    """The worker's checks of every command, from what is configured (README "Identity"). Managers decide
    closures: without a roles file the worker runs only in an explicit open demo [DOMAIN 9]."""
    if config.roles_file is None and not config.open_demo:
        raise ConfigError(
            "EARLYHELP_ROLES_FILE",
            "who may decide closures comes from the roles file: set it "
            "(or EARLYHELP_OPEN_DEMO=true for a demo where anyone may)",
        )
    roles = Roles.load(config.roles_file) if config.roles_file else None
    verifier = Verifier.from_file(config.verify_key, config.token_issuer) if config.verify_key else None
    encrypted = MasterKeys.from_config(config) is not None
    return Authorization(roles, verifier, encrypted) if roles or verifier or encrypted else None


def letterhead_of(config: Config, roles: Roles | None) -> Letterhead:
    address = tuple(line.strip() for line in config.council_address.split(";") if line.strip())
    return Letterhead(config.council_name, address, config.council_phone, roles.staff if roles else {})


# How long a task for a case this worker holds (on its sticky queue) waits for it before the server gives it to
# any worker: the other half of a dead worker's handover (CASE_TASK_TIMEOUT, worker/temporal.py, is the
# first). The SDK's default is 10 s; a busy worker's cached case going to another worker after 5 s costs
# that worker one replay of the run.
STICKY_HANDOVER = timedelta(seconds=5)


def production_options(config: Config) -> dict[str, Any]:
    """The worker options production runs with, beyond its workflows, activities and interceptors."""
    return {
        "max_cached_workflows": config.max_cached_cases,
        "graceful_shutdown_timeout": timedelta(seconds=config.shutdown_grace_seconds),
        "sticky_queue_schedule_to_start_timeout": STICKY_HANDOVER,
        "workflow_task_executor": OnTheLoop(),  # activations on the event loop's thread (worker/activations.py)
    }


def new_worker(
    client: Client,
    store: CaseActivities,
    task_queue: str,
    delivery: DeliveryActivities | None = None,
    roles: Roles | None = None,
    **options: Any,
) -> Worker:
    """The case workflows and their store; with `delivery`, what follows up the outbox too: deliveries
    through Notify, the MASH queue's watches, the outbox sweep and the daily digests."""
    workflows: list[type] = [EarlyHelpCase]
    activities: list[Any] = [store.append_events, store.save_events, store.previous_cases]
    if delivery is not None:
        mash = MashActivities(delivery.pool, delivery.sending)
        digests = DigestActivities(delivery.pool, roles, delivery.sending)
        workflows += [Delivery, OutboxSweep, MashReferralWatch, DailyDigest]
        activities += [
            delivery.deliver,
            delivery.send,
            delivery.delivery_status,
            delivery.escalate_failure,
            delivery.undelivered,
            mash.escalate_unacknowledged,
            mash.record_acknowledgement,
            mash.unwatched,
            digests.write_digests,
        ]
    options.setdefault("workflow_runner", workflow_runner())
    return Worker(client, task_queue=task_queue, workflows=workflows, activities=activities, **options)


def delivery_activities(config: Config, pool: Any, sealer: Sealer, roles: Roles | None) -> DeliveryActivities:
    """Delivery through GOV.UK Notify; with no API key configured nothing is sent and the outbox keeps every
    item (README "What is sent to whom")."""
    key, url = config.notify_api_key, config.notify_url
    notify = (lambda: NotificationsAPIClient(key, base_url=url, timeout=20)) if key else None
    return DeliveryActivities(pool, sealer, notify, Directory(roles.emails if roles else {}, config.notify_templates))


def schedules(task_queue: str) -> dict[str, Schedule]:
    """The service's Temporal Schedules, named for their task queue (`earlyhelp schedules` lists them): the
    outbox sweep each minute; the digests at 08:00 London on weekdays (DailyDigest skips bank holidays). A
    missed run is skipped, never piled up, and a run no worker takes ends within its timeout."""
    once = SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)
    sweep, digest = f"outbox-sweep-{task_queue}", f"{DIGEST_SCHEDULE}-{task_queue}"
    return {
        sweep: Schedule(
            action=ScheduleActionStartWorkflow(
                "OutboxSweep", id=f"{sweep}-run", task_queue=task_queue, execution_timeout=timedelta(minutes=5)
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
            policy=once,
        ),
        digest: Schedule(
            action=ScheduleActionStartWorkflow(
                "DailyDigest", id=f"{digest}-run", task_queue=task_queue, execution_timeout=timedelta(hours=1)
            ),
            spec=ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(
                        hour=[ScheduleRange(8)],
                        minute=[ScheduleRange(0)],
                        second=[ScheduleRange(0)],
                        day_of_week=[ScheduleRange(1, 5)],
                    )
                ],
                time_zone_name="Europe/London",
            ),
            policy=once,
        ),
    }


async def ensure_schedules(client: Client, task_queue: str) -> list[str]:
    """Create the service's schedules (idempotent: an existing schedule is left as it is); returns those made."""
    made = []
    for schedule_id, schedule in schedules(task_queue).items():
        try:
            await client.create_schedule(schedule_id, schedule)
            made.append(schedule_id)
        except ScheduleAlreadyRunningError:
            pass
    return made


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    logs.configure(config.log_level)
    log = structlog.get_logger("earlyhelp.worker")
    stop = stop_on_signals(stop)
    runtime = None
    if config.metrics_port:
        try:
            runtime = Runtime(
                telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"0.0.0.0:{config.metrics_port}"))
            )
        except Exception as e:  # the SDK's runtime says only that it could not bind
            raise ConfigError(
                "EARLYHELP_METRICS_PORT",
                f"cannot serve metrics on port {config.metrics_port} "
                f"({e}): is it in use? Set another port, or 0 for none",
            ) from None
    interceptors = [checks] if (checks := authorization(config)) else []
    # A server still starting (as with `earlyhelp up`) is waited for, up to EARLYHELP_STARTUP_SECONDS.
    pool = await patiently(lambda: open_database(config), config.startup_seconds)
    client = await patiently(lambda: connect(config, runtime, pool), config.startup_seconds)
    try:
        if added := await ensure_search_attributes(client):
            log.info("search attributes registered", names=added)
    except RPCError as e:  # e.g. a managed cluster: an admin registers them (README.md)
        log.warning("search attributes not registered", error=e.message)
    sealer = Sealer(client.data_converter.payload_codec)
    roles = Roles.load(config.roles_file) if config.roles_file else None
    delivery = delivery_activities(config, pool, sealer, roles)
    try:
        if made := await ensure_schedules(client, config.task_queue):
            log.info("schedules created", schedules=made)
    except RPCError as e:  # a server without Schedules (the time-skipping test server) or credentials without them
        log.warning(
            "schedules not created: the outbox sweep and the daily digests will not run until ops create "
            "them (earlyhelp schedules --create)",
            error=e.message,
            status=e.status.name,
        )
    worker = new_worker(
        client,
        CaseActivities(
            pool,
            sealer,
            deliver=delivery.sending,
            watch=True,
            letterhead=letterhead_of(config, roles),
            dispatch=delivery.dispatch if delivery.sending else None,
        ),
        config.task_queue,
        delivery,
        roles,
        interceptors=interceptors,
        **production_options(config),
    )
    try:
        async with worker:
            log.info(
                "worker started",
                task_queue=config.task_queue,
                namespace=config.namespace,
                metrics_port=config.metrics_port or None,
            )
            await stop.wait()
            log.info("worker stopping", grace_seconds=config.shutdown_grace_seconds)
    finally:
        await pool.close()
    log.info("worker stopped")


def main() -> None:
    run(serve, "worker")


if __name__ == "__main__":
    main()
