"""Connecting to Temporal: one client setup for the worker, the CLI and the tools."""

from __future__ import annotations

import asyncpg
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from activities import db
from worker.codec import CaseKeys, EncryptionCodec, encrypted_converter
from worker.config import Config, ConfigError
from worker.keys import MasterKeys
from workflows import search


async def open_database(config: Config) -> asyncpg.Pool:
    try:
        return await db.connect(config.database_url)
    except (OSError, asyncpg.PostgresError) as e:
        raise ConfigError("DATABASE_URL", f"cannot use PostgreSQL: {e}") from None


async def data_converter(config: Config, pool: asyncpg.Pool | None = None) -> DataConverter:
    """The project's converter; with payload encryption when keys are configured (which needs the database)."""
    master = MasterKeys.from_config(config)
    if master is None:
        return pydantic_data_converter
    pool = pool or await open_database(config)
    return encrypted_converter(EncryptionCodec(master, CaseKeys(pool, master)))


async def connect(config: Config, runtime: Runtime | None = None, pool: asyncpg.Pool | None = None) -> Client:
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
            data_converter=await data_converter(config, pool),
            tls=tls,
            api_key=config.api_key,
            runtime=runtime,
        )
    except Exception as e:
        raise ConfigError("TEMPORAL_ADDRESS", f"cannot reach Temporal at {config.temporal_address}: {e}") from None


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register the case search attributes the namespace lacks; returns those added."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace))
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as e:
        if e.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server cannot list them
            raise
        known = set()
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in search.REGISTERED if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing))
    return sorted(missing)
