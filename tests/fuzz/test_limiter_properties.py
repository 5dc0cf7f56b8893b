"""Properties of the token-bucket limiter under any sequence of messages (no server)."""

from __future__ import annotations

from typing import Dict, List

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ratelimit import RateLimiter
from bot.settings import RateLimit
from tests.fuzz.strategies import examples

events = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=30, allow_nan=False),  # seconds since the previous message
        st.integers(0, 30),  # sender
        st.integers(0, 3),  # address
    ),
    max_size=300,
)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=examples(200))
@given(
    events,
    st.integers(1, 12),
    st.floats(1, 120, allow_nan=False),
    st.integers(1, 40),
    st.floats(1, 600, allow_nan=False),
)
def test_no_sender_or_address_ever_gets_more_than_its_budget(
    events, burst, per_minute, client_burst, client_rate
):
    clock = Clock()
    policy = RateLimit(
        sender_burst=burst,
        sender_per_minute=per_minute,
        client_burst=client_burst,
        client_per_minute=client_rate,
        max_tracked=100,
    )
    limiter = RateLimiter(policy, clock)
    accepted: Dict[str, List[float]] = {}
    last_seen: Dict[str, float] = {}
    for delay, sender, address in events:
        clock.now += delay
        key = f"s{sender}"
        idle = clock.now - last_seen.get(key, -1e9)
        decision = limiter.check(key, f"10.0.0.{address}")
        last_seen[key] = clock.now
        if decision.allowed:
            accepted.setdefault(key, []).append(clock.now)
            accepted.setdefault(f"10.0.0.{address}", []).append(clock.now)
        else:
            assert decision.retry_after > 0 and int(decision.retry_after_header) >= 1
        # A sender idle long enough to refill is never refused for its own sake.
        if idle >= burst / (per_minute / 60) and not decision.allowed:
            assert limiter.senders.wait(key) == 0
        assert len(limiter.senders) <= policy.max_tracked and len(limiter.clients) <= policy.max_tracked

    # In any window, at most burst + rate x window messages got through.
    for key, times in accepted.items():
        cap, rate = (client_burst, client_rate / 60) if key.startswith("10.") else (burst, per_minute / 60)
        for i, start in enumerate(times):
            for j in range(i, len(times)):
                assert j - i + 1 <= cap + rate * (times[j] - start) + 1e-6
