"""PostgreSQL connection pool and versioned schema migrations."""

from __future__ import annotations

from importlib import resources

import asyncpg

from activities import projections

# Any fixed number: serialises migrations when several workers start at once.
_MIGRATION_LOCK = 7_733_001


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("activities") / "migrations"
    return sorted((f.name, f.read_text()) for f in folder.iterdir() if f.name.endswith(".sql"))


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Apply the migrations not yet applied, in name order; returns those applied."""
    applied: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migration_files():
            if name not in done:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                applied.append(name)
        if "0002_read_model.sql" in applied:
            # Events saved before the read model existed: project them now.
            await projections.rebuild(conn)
    return applied


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a released connection needs besides asyncpg's own clean-up (listeners dropped, an open transaction
    rolled back): nothing. The default reset is a round trip per release (RESET ALL, UNLISTEN *, advisory locks,
    CLOSE ALL); no pooled connection sets a session setting, listens, holds a session lock or opens a cursor
    (the erasure listener has a connection of its own, worker/codec.py)."""


async def connect(database_url: str, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=max_size, reset=_keep_session)
    assert pool is not None
    await migrate(pool)
    return pool
