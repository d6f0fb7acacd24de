"""Web sessions kept in PostgreSQL, so they can be ended: sign-out, an idle timeout, a person's removal.

The cookie holds only a random session id; the table keeps its HMAC under a
secret only the web app holds, and each row is sealed (an HMAC of its id and
data under the same secret). So a copy of the database yields no live
session, and a row inserted or altered in PostgreSQL (a manager's session for
a cookie of one's own) signs nobody in. A session unused for
`idle_seconds` (policy default 30 minutes) is gone: the next request signs in
again. Sign-out deletes the row at once, so the old cookie is worthless.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

import asyncpg
from aiohttp import web
from aiohttp_session import AbstractStorage, Session

IDLE_SECONDS = 30 * 60
COOKIE = "earlyhelp_session"


class PostgresStorage(AbstractStorage):
    def __init__(
        self, pool: asyncpg.Pool, secret: bytes, idle_seconds: int = IDLE_SECONDS, secure: bool = False
    ) -> None:
        # No max_age: the cookie lasts as long as the browser; the server decides when the session ends.
        super().__init__(cookie_name=COOKIE, httponly=True, samesite="Lax", secure=secure)
        self.pool, self.secret, self.idle_seconds = pool, secret, idle_seconds

    def _mac(self, *parts: str) -> str:
        return hmac.new(self.secret, "\n".join(parts).encode(), hashlib.sha256).hexdigest()

    def _hash(self, key: str) -> str:
        return self._mac("session id", key)

    def _seal(self, id_hash: str, data: str) -> str:
        # Over the data as PostgreSQL gives it back (jsonb reorders keys): canonical JSON.
        return self._mac("session row", id_hash, json.dumps(json.loads(data), sort_keys=True))

    async def load_session(self, request: web.Request) -> Session:
        key = self.load_cookie(request)
        if not key or len(key) > 100:
            return Session(None, data=None, new=True, max_age=None)
        id_hash = self._hash(key)
        row = await self.pool.fetchrow(
            "UPDATE web_sessions SET last_seen = now() WHERE id_hash = $1"
            " AND last_seen > now() - make_interval(secs => $2) RETURNING data, seal",
            id_hash,
            self.idle_seconds,
        )
        if row is None or not hmac.compare_digest(row["seal"] or "", self._seal(id_hash, row["data"])):
            return Session(None, data=None, new=True, max_age=None)
        return Session(key, data=json.loads(row["data"]), new=False, max_age=None)

    async def save_session(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        key = session.identity
        if session.empty:  # signed out (invalidated), or nothing to keep
            if key is not None:
                await self.pool.execute("DELETE FROM web_sessions WHERE id_hash = $1", self._hash(str(key)))
            self.save_cookie(response, "")
            return
        if key is None:
            key = secrets.token_urlsafe(32)
            await self.pool.execute(
                "DELETE FROM web_sessions WHERE last_seen < now() - make_interval(secs => $1)", self.idle_seconds
            )
        data = self._get_session_data(session)
        id_hash, text = self._hash(str(key)), json.dumps(data)
        await self.pool.execute(
            "INSERT INTO web_sessions (id_hash, person, data, seal) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (id_hash) DO UPDATE SET person = EXCLUDED.person, data = EXCLUDED.data,"
            " seal = EXCLUDED.seal, last_seen = now()",
            id_hash,
            data["session"].get("user"),
            text,
            self._seal(id_hash, text),
        )
        self.save_cookie(response, str(key))


async def end_sessions_of(pool: asyncpg.Pool, person: str) -> int:
    """End every session of a person at once (a role removed, an account closed)."""
    done = await pool.execute("DELETE FROM web_sessions WHERE person = $1", person)
    return int(done.split()[-1])
