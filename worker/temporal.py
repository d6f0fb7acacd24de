"""Connecting to Temporal: one client setup for the worker, the CLI and the tools."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client, Interceptor, TLSConfig, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from activities import db
from worker import identity
from worker.codec import CaseKeys, EncryptionCodec, encrypted_converter
from worker.config import Config, ConfigError
from worker.keys import MasterKeys
from worker.remote_codec import RemoteCodec
from workflows import rules, search
from workflows.models import Referral, Snapshot

T = TypeVar("T")


async def patiently(connect_once: Callable[[], Awaitable[T]], within: float) -> T:
    """Retry a connection with backoff (a server still starting), then give up with its named error."""
    deadline = asyncio.get_running_loop().time() + within
    delay = 0.25
    while True:
        try:
            return await connect_once()
        except ConfigError:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def open_database(config: Config) -> asyncpg.Pool:
    try:
        return await db.connect(config.database_url)
    except (OSError, asyncpg.PostgresError) as e:
        raise ConfigError("DATABASE_URL", f"cannot use PostgreSQL: {e}") from None


async def data_converter(config: Config, pool: asyncpg.Pool | None = None, token: str | None = None) -> DataConverter:
    """The project's converter; with payload encryption when keys are configured (which needs the database),
    or through the codec server with a person's login `token` (EARLYHELP_CODEC_URL, no keys here)."""
    master = MasterKeys.from_config(config)
    if master is None and config.codec_url:
        if token is None:
            raise ConfigError(
                "EARLYHELP_CODEC_URL",
                "the codec server encodes and decodes for a person: sign in first (earlyhelp login)",
            )
        return encrypted_converter(RemoteCodec(config.codec_url, token))
    if master is None:
        return pydantic_data_converter
    pool = pool or await open_database(config)
    return encrypted_converter(EncryptionCodec(master, CaseKeys(pool, master, listen_url=config.database_url)))


async def connect(
    config: Config,
    runtime: Runtime | None = None,
    pool: asyncpg.Pool | None = None,
    interceptors: Sequence[Interceptor] = (),
    token: str | None = None,
) -> Client:
    """A client on the configured cluster with the project's data converter."""
    tls: TLSConfig | bool = False
    if config.tls_cert or config.tls_ca:
        tls = TLSConfig(
            client_cert=config.tls_cert.read_bytes() if config.tls_cert else None,
            client_private_key=config.tls_key.read_bytes() if config.tls_key else None,
            server_root_ca_cert=config.tls_ca.read_bytes() if config.tls_ca else None,
        )
    elif config.api_key:
        tls = True
    try:
        return await Client.connect(
            config.temporal_address,
            namespace=config.namespace,
            data_converter=await data_converter(config, pool, token),
            tls=tls,
            api_key=config.api_key,
            runtime=runtime,
            interceptors=interceptors,
        )
    except Exception as e:
        raise ConfigError("TEMPORAL_ADDRESS", f"cannot reach Temporal at {config.temporal_address}: {e}") from None


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register the case search attributes the namespace lacks; returns those added."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as e:
        if e.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server cannot list them
            raise
        known = set()
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in search.REGISTERED
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)


# How long a worker may hold one of a case's workflow tasks before the server gives it to another: the time a
# case waits when the worker holding it dies (Temporal's default is 10 s). A task runs in milliseconds, and a
# local activity that runs longer keeps its task alive (the SDK heartbeats it), so 5 s costs no retries.
# Continued runs keep it; cases started before it keep 10 s.
CASE_TASK_TIMEOUT = timedelta(seconds=5)


def case_workflow_id(case_id: str) -> str:
    return f"case-{case_id}"


async def start_case(client: Client, referral: Referral, task_queue: str) -> WorkflowHandle[Any, Any]:
    """Start a case; a case id is never used twice, even after its case ended (docs/contract.md). A referral a
    rule refuses at the door (rules.check_referral) raises RuleBroken and starts nothing."""
    rules.check_referral(referral.route, referral.consent)
    return await client.start_workflow(
        "EarlyHelpCase",
        referral,
        id=case_workflow_id(referral.case_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        task_timeout=CASE_TASK_TIMEOUT,
        result_type=Any,
    )


def new_update_id() -> str:
    return uuid.uuid4().hex


# Transient failures a client retries with the same update id: Temporal records the update once.
_TRANSIENT = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}


async def send_command(
    client: Client, case_id: str, name: str, command: Any, update_id: str, attempts: int = 5
) -> Snapshot:
    """Send one command, retrying outages with the same update id so it is recorded at most once."""
    handle = client.get_workflow_handle(case_workflow_id(case_id))
    for attempt in range(attempts):
        try:
            return await handle.execute_update(name, command, id=update_id, result_type=Snapshot)
        except RPCError as e:
            if e.status not in _TRANSIENT or attempt == attempts - 1:
                raise
            await asyncio.sleep(min(0.5 * 2**attempt, 5))
    raise AssertionError("unreachable")


def signing_interceptors(config: Config) -> list[Interceptor]:
    """For the processes that hold the signing key (the web app, the local demo's seeding): each command
    is signed for the person `identity.acting_for` names."""
    if config.signing_key is None:
        return []
    signer = identity.Signer.from_file(config.signing_key, config.token_issuer)
    return [identity.SignCommands(identity.local_mint(signer, lambda: datetime.now(UTC)))]
