"""Calls to GOV.UK Notify through `notifications-python-client`, which is synchronous: each in a thread, with
a client kept for each thread, so that its requests session keeps the connection to Notify open from one call
to the next (a client made for every call opened a new connection for every message, in production with a TLS
handshake: issue #27's profile with delivery on)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from notifications_python_client.notifications import NotificationsAPIClient


class NotifyCalls:
    def __init__(self, make: Callable[[], NotificationsAPIClient]) -> None:
        self._make = make
        self._clients = threading.local()

    def _client(self) -> NotificationsAPIClient:
        client: NotificationsAPIClient | None = getattr(self._clients, "client", None)
        if client is None:
            client = self._clients.client = self._make()
        return client

    async def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        """The client's `method`, run in a thread with that thread's client."""
        return await asyncio.to_thread(lambda: getattr(self._client(), method)(*args, **kwargs))
