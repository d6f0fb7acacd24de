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
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.delivery import DeliveryActivities, Directory
from activities.store import CaseActivities
from worker import logs
from worker.authz import Authorization, Roles
from worker.config import Config, ConfigError
from worker.identity import Verifier
from worker.keys import MasterKeys
from worker.process import run, stop_on_signals
from worker.sealing import Sealer
from worker.temporal import connect, ensure_search_attributes, open_database, patiently
from workflows.case import EarlyHelpCase
from workflows.delivery import Delivery, OutboxSweep


def authorization(config: Config) -> Authorization | None:
    """The worker's checks of every command, from what is configured (README "Identity"). Managers decide
    closures: without a roles file the worker runs only in an explicit open demo [DOMAIN 9]."""
    if config.roles_file is None and not config.open_demo:
        raise ConfigError("EARLYHELP_ROLES_FILE", "who may decide closures comes from the roles file: set it "
                                                  "(or EARLYHELP_OPEN_DEMO=true for a demo where anyone may)")
    roles = Roles.load(config.roles_file) if config.roles_file else None
    verifier = Verifier.from_file(config.verify_key, config.token_issuer) if config.verify_key else None
    encrypted = MasterKeys.from_config(config) is not None
    return Authorization(roles, verifier, encrypted) if roles or verifier or encrypted else None


def new_worker(client: Client, store: CaseActivities, task_queue: str, delivery: DeliveryActivities | None = None,
               **options: Any) -> Worker:
    """The case workflows and their store; with `delivery`, the outbox's deliveries through Notify too."""
    workflows: list[type] = [EarlyHelpCase]
    activities: list[Any] = [store.append_events, store.previous_cases]
    if delivery is not None:
        workflows += [Delivery, OutboxSweep]
        activities += [delivery.deliver, delivery.delivery_status, delivery.escalate_failure, delivery.undelivered]
    return Worker(client, task_queue=task_queue, workflows=workflows, activities=activities, **options)


def delivery_activities(config: Config, pool: Any, sealer: Sealer) -> DeliveryActivities | None:
    """Delivery through GOV.UK Notify where an API key is configured (README "What is sent to whom")."""
    if config.notify_api_key is None:
        return None
    roles = Roles.load(config.roles_file) if config.roles_file else None
    key, url = config.notify_api_key, config.notify_url
    return DeliveryActivities(pool, sealer, lambda: NotificationsAPIClient(key, base_url=url, timeout=20),
                              Directory(roles.emails if roles else {}, config.notify_templates))


SWEEP_SCHEDULE = "earlyhelp-outbox-sweep"


async def ensure_sweep_schedule(client: Client, task_queue: str) -> bool:
    """The outbox sweep each minute (idempotent: an existing schedule is left as it is)."""
    try:
        await client.create_schedule(SWEEP_SCHEDULE, Schedule(
            action=ScheduleActionStartWorkflow("OutboxSweep", id=f"{SWEEP_SCHEDULE}-run", task_queue=task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)))
        return True
    except ScheduleAlreadyRunningError:
        return False


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    logs.configure(config.log_level)
    log = structlog.get_logger("earlyhelp.worker")
    stop = stop_on_signals(stop)
    runtime = None
    if config.metrics_port:
        try:
            runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
                bind_address=f"0.0.0.0:{config.metrics_port}")))
        except Exception as e:  # the SDK's runtime says only that it could not bind
            raise ConfigError("EARLYHELP_METRICS_PORT", f"cannot serve metrics on port {config.metrics_port} "
                              f"({e}): is it in use? Set another port, or 0 for none") from None
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
    delivery = delivery_activities(config, pool, sealer)
    if delivery is not None and await ensure_sweep_schedule(client, config.task_queue):
        log.info("outbox sweep scheduled", schedule=SWEEP_SCHEDULE)
    worker = new_worker(
        client, CaseActivities(pool, sealer, deliver=delivery is not None), config.task_queue, delivery,
        interceptors=interceptors,
        max_cached_workflows=config.max_cached_cases,
        graceful_shutdown_timeout=timedelta(seconds=config.shutdown_grace_seconds),
    )
    try:
        async with worker:
            log.info("worker started", task_queue=config.task_queue, namespace=config.namespace,
                     metrics_port=config.metrics_port or None)
            await stop.wait()
            log.info("worker stopping", grace_seconds=config.shutdown_grace_seconds)
    finally:
        await pool.close()
    log.info("worker stopped")


def main() -> None:
    run(serve, "worker")


if __name__ == "__main__":
    main()
