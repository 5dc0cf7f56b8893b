"""State the Slack and Telegram channels keep between requests, shared by replicas.

The channels remember two things: which events they have already answered (Slack
and Telegram both deliver some events more than once) and, for Telegram, the
button payloads too long for its 64-byte ``callback_data``. In one process that
fits in memory. With several Rasa replicas behind a load balancer, a retry or a
button press can reach another replica than the first delivery, so the memory
must be shared: when ``REDIS_HOST`` is set (the production topology, see
``deploy/endpoints.production.yml``), it is kept in Redis, in the same server as
Rasa's lock store (``REDIS_PORT``, ``REDIS_PASSWORD``; database ``REDIS_DB``,
default 1), under keys starting ``painclinic:channel:``.

If Redis cannot be reached, a channel logs a warning and uses its own memory for
that request: a patient may, rarely, get an answer twice, but never none.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Union

logger = logging.getLogger(__name__)

KEY_PREFIX = "painclinic:channel:"
REDIS_TIMEOUT_SECONDS = 2.0


class MemoryState:
    """Keys remembered in this process for ``ttl`` seconds (at most ``size`` of them)."""

    def __init__(self, ttl: float, size: int = 10000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple] = OrderedDict()

    def _expire(self) -> None:
        now = time.monotonic()
        while self._entries and (
            len(self._entries) > self.size or next(iter(self._entries.values()))[0] < now - self.ttl
        ):
            self._entries.popitem(last=False)

    def add(self, *keys: Optional[str]) -> bool:
        """Records ``keys``; False when any of them was recorded before."""
        self._expire()
        keys_ = [key for key in keys if key]
        if any(key in self._entries for key in keys_):
            return False
        for key in keys_:
            self._entries[key] = (time.monotonic(), "")
        return True

    def put(self, key: str, value: str) -> None:
        """Remembers ``value`` under ``key``."""
        self._entries[key] = (time.monotonic(), value)
        self._entries.move_to_end(key)
        self._expire()

    def get(self, key: str) -> Optional[str]:
        """The value remembered under ``key``, if any."""
        self._expire()
        entry = self._entries.get(key)
        return entry[1] if entry else None

    async def first_time(self, *keys: Optional[str]) -> bool:
        """Like :meth:`add` (the interface :class:`RedisState` shares)."""
        return self.add(*keys)

    async def store(self, key: str, value: str) -> None:
        """Like :meth:`put`."""
        self.put(key, value)

    async def load(self, key: str) -> Optional[str]:
        """Like :meth:`get`."""
        return self.get(key)

    async def close(self) -> None:
        """Nothing to close."""


class RedisState:
    """The same interface, kept in Redis so that every replica shares it."""

    def __init__(self, namespace: str, ttl: float, connection: Dict[str, Any], size: int = 10000) -> None:
        self.prefix = f"{KEY_PREFIX}{namespace}:"
        self.ttl_ms = max(int(ttl * 1000), 1)
        self.connection = connection
        self.local = MemoryState(ttl, size)  # used only while Redis cannot be reached
        self._client: Any = None

    def _redis(self) -> Any:
        # Created on first use, inside the server's event loop (not at start-up).
        if self._client is None:
            from redis.asyncio import Redis

            self._client = Redis(
                **self.connection,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        return self._client

    def _unavailable(self, error: Exception) -> None:
        logger.warning("Redis unavailable for the channel state (%s); using this process's memory.", error)

    async def first_time(self, *keys: Optional[str]) -> bool:
        """Records ``keys`` in Redis; False when any replica recorded one of them before.

        ``SET NX``: of two replicas recording a key at the same moment, exactly one wins.
        """
        from redis.exceptions import RedisError

        keys_ = [key for key in keys if key]
        if not keys_:
            return True
        try:
            async with self._redis().pipeline(transaction=True) as pipe:
                for key in keys_:
                    pipe.set(self.prefix + key, "1", nx=True, px=self.ttl_ms)
                created = await pipe.execute()
        except (RedisError, OSError) as error:
            self._unavailable(error)
            return self.local.add(*keys_)
        return all(created)

    async def store(self, key: str, value: str) -> None:
        """Remembers ``value`` under ``key`` for every replica."""
        from redis.exceptions import RedisError

        self.local.put(key, value)
        try:
            await self._redis().set(self.prefix + key, value, px=self.ttl_ms)
        except (RedisError, OSError) as error:
            self._unavailable(error)

    async def load(self, key: str) -> Optional[str]:
        """The value any replica stored under ``key``, if any."""
        from redis.exceptions import RedisError

        try:
            value = await self._redis().get(self.prefix + key)
        except (RedisError, OSError) as error:
            self._unavailable(error)
            return self.local.get(key)
        if value is None:
            return self.local.get(key)
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    async def close(self) -> None:
        """Closes the Redis connections."""
        if self._client is not None:
            await self._client.close()
            self._client = None


ChannelState = Union[MemoryState, RedisState]


def redis_connection(environ: Optional[Dict[str, str]] = None) -> Optional[Dict[str, Any]]:
    """Redis connection settings from ``REDIS_*``; None when ``REDIS_HOST`` is not set."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    host = (env.get("REDIS_HOST") or "").strip()
    if not host:
        return None
    return {
        "host": host,
        "port": int(env.get("REDIS_PORT") or 6379),
        "password": env.get("REDIS_PASSWORD") or None,
        "db": int(env.get("REDIS_DB") or 1),
    }


def channel_state(namespace: str, ttl: float, size: int = 10000) -> ChannelState:
    """Redis-backed state when ``REDIS_HOST`` is set, else this process's memory."""
    connection = redis_connection()
    if connection is None:
        return MemoryState(ttl, size)
    logger.info("Channel state '%s' kept in Redis at %s.", namespace, connection["host"])
    return RedisState(namespace, ttl, connection, size)


__all__ = ["ChannelState", "MemoryState", "RedisState", "channel_state", "redis_connection"]
