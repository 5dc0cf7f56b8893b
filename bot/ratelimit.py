"""Per-sender and per-client-address rate limiting for the patient channels.

One client must not be able to starve the others: a script that sends messages
as fast as it can, under one conversation id or under a new id each time, would
otherwise take all of the server's time. The REST and socket.io channels ask
:class:`RateLimiter` before a message reaches NLU; a refused message costs next
to nothing.

**Token buckets.** Each conversation (sender id) has a bucket of
``sender_burst`` tokens that refills at ``sender_per_minute``; each message takes
one. A patient who clicks a few buttons quickly uses the burst; nobody types 30
messages a minute for long. Because a client can invent a new sender id for
every message, all messages from one network address also share a second,
larger bucket (``client_burst`` / ``client_per_minute``): large enough for a
clinic waiting room or a hospital's guest Wi-Fi behind one address, small enough
that one address cannot take the whole server. Both limits are in
``bot/clinic.yml`` under ``rate_limit`` (see :class:`bot.settings.RateLimit`).

**Memory stays bounded.** A bucket that has refilled completely is the same as no
bucket, so idle senders are forgotten (the least recently used are checked on
every call); on top of that at most ``max_tracked`` senders and addresses are
remembered, the least recently active dropped first.

The state lives in the memory of one Rasa server process. With several replicas
behind a load balancer each replica counts on its own, so a client that reaches
``n`` replicas may send up to ``n`` times the limit; put a shared limit in front
(nginx ``limit_req``) for that.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from bot.settings import RateLimit

Clock = Callable[[], float]


@dataclass
class _Bucket:
    tokens: float
    updated: float
    refused: bool = False  # refused since its last accepted message


class TokenBuckets:
    """Token buckets by key: ``burst`` tokens, refilled at ``per_minute``; bounded in memory."""

    def __init__(self, burst: int, per_minute: float, max_keys: int, clock: Clock = time.monotonic) -> None:
        if burst < 1 or per_minute <= 0 or max_keys < 1:
            raise ValueError("burst and max_keys must be at least 1 and per_minute above 0")
        self.capacity = float(burst)
        self.rate = per_minute / 60.0  # tokens per second
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _level(self, bucket: _Bucket, now: float) -> float:
        return min(self.capacity, bucket.tokens + max(0.0, now - bucket.updated) * self.rate)

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has a token (0 when it has one now)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        missing = 1.0 - self._level(bucket, self.clock())
        return max(0.0, missing / self.rate)

    def take(self, key: str) -> None:
        """Takes one token from ``key``'s bucket (the caller checked :meth:`wait`)."""
        now = self.clock()
        bucket = self._buckets.pop(key, None)
        level = self.capacity if bucket is None else self._level(bucket, now)
        self._buckets[key] = _Bucket(tokens=max(0.0, level - 1.0), updated=now)
        self._forget_idle(now)

    def refuse(self, key: str) -> bool:
        """Marks ``key`` refused; True the first time since its last accepted message."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return True
        first = not bucket.refused
        bucket.refused = True
        return first

    def _forget_idle(self, now: float) -> None:
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            full = self._level(oldest, now) >= self.capacity
            if not full and len(self._buckets) <= self.max_keys:
                return
            del self._buckets[key]


@dataclass(frozen=True)
class Decision:
    """Whether one message may go on, and if not, when to try again."""

    allowed: bool
    retry_after: float = 0.0
    # The first refusal since this sender's last accepted message: channels that
    # answer with a bot message (socket.io) say so once, not for every message.
    first_refusal: bool = False

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds (at least 1)."""
        return str(max(1, math.ceil(self.retry_after)))


class RateLimiter:
    """Per-sender limits, plus per-client-address limits when configured."""

    def __init__(self, policy: RateLimit, clock: Clock = time.monotonic) -> None:
        self.policy = policy
        self.senders = TokenBuckets(policy.sender_burst, policy.sender_per_minute, policy.max_tracked, clock)
        self.clients: Optional[TokenBuckets] = None
        if policy.client_burst and policy.client_per_minute:
            self.clients = TokenBuckets(
                policy.client_burst, policy.client_per_minute, policy.max_tracked, clock
            )

    def check(self, sender: str, client: Optional[str] = None) -> Decision:
        """Takes a token for ``sender`` (and ``client``) or says how long to wait.

        Args:
            sender: the conversation id.
            client: the client's network address (``None`` or ``""`` when unknown).

        Returns:
            The decision; a refused message takes no token.

        """
        if not self.policy.enabled:
            return Decision(allowed=True)
        wait = self.senders.wait(sender)
        if self.clients is not None and client:
            wait = max(wait, self.clients.wait(client))
        if wait > 0:
            return Decision(allowed=False, retry_after=wait, first_refusal=self.senders.refuse(sender))
        self.senders.take(sender)
        if self.clients is not None and client:
            self.clients.take(client)
        return Decision(allowed=True)


def client_address(request: Any) -> str:
    """The client's address of a Sanic request.

    Behind a reverse proxy this is the proxy's address unless Sanic is told to
    trust its ``X-Forwarded-For`` header: set ``SANIC_PROXIES_COUNT=1`` (one proxy,
    e.g. nginx) in the Rasa server's environment, or ``SANIC_REAL_IP_HEADER``.
    """
    if request is None:
        return ""
    try:
        return str(request.remote_addr or request.ip or "")
    except Exception:  # noqa: BLE001 - a malformed Forwarded header must not stop the message
        return str(getattr(request, "ip", "") or "")


@lru_cache(maxsize=1)
def get_limiter() -> RateLimiter:
    """The Rasa server's limiter, shared by its channels (built on first use from the settings)."""
    from bot.settings import get_settings

    return RateLimiter(get_settings().rate_limit)


__all__ = ["Decision", "RateLimiter", "TokenBuckets", "client_address", "get_limiter"]
