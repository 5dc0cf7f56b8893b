"""The rate limiter (bot/ratelimit.py), the input helpers (bot/channels/inputs.py) and the
``rate_limit`` / ``input_limits`` settings, with a hand-driven clock; and the limiter's budget under any
sequence of messages (hypothesis)."""

from __future__ import annotations

from typing import Dict, List

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.channels.inputs import clean_text, valid_sender
from bot.channels.rest import BadRequest, parse_request
from bot.ratelimit import RateLimiter, TokenBuckets, client_address
from bot.settings import InputLimits, RateLimit, SettingsError, load_settings
from tests.servers import ROOT
from tests.strategies import examples


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, **changes) -> RateLimiter:
    policy = dict(sender_burst=3, sender_per_minute=6, client_burst=5, client_per_minute=60, max_tracked=100)
    return RateLimiter(RateLimit(**{**policy, **changes}), clock)


def test_a_sender_gets_its_burst_then_one_message_per_interval():
    clock = Clock()
    limits = limiter(clock)
    assert [limits.check("a").allowed for _ in range(4)] == [True, True, True, False]
    refused = limits.check("a")
    assert refused.retry_after == pytest.approx(10) and refused.retry_after_header == "10"
    clock.now += 9.9
    assert not limits.check("a").allowed
    clock.now += 0.1
    assert limits.check("a").allowed and not limits.check("a").allowed
    assert limits.check("b").allowed, "other senders are not affected"


def test_the_first_refusal_is_marked_once_until_a_message_is_accepted_again():
    clock = Clock()
    limits = limiter(clock, sender_burst=1)
    assert limits.check("a").allowed
    assert [limits.check("a").first_refusal for _ in range(3)] == [True, False, False]
    clock.now += 10
    assert limits.check("a").allowed
    assert limits.check("a").first_refusal


def test_one_address_is_limited_across_new_sender_ids():
    clock = Clock()
    limits = limiter(clock)
    assert [limits.check(f"s{i}", "10.0.0.1").allowed for i in range(6)] == [True] * 5 + [False]
    assert limits.check("s-new", "10.0.0.2").allowed, "another address"
    assert limits.check("s-new2").allowed, "an unknown address is not limited by address"
    clock.now += 1
    assert limits.check("s7", "10.0.0.1").allowed


def test_a_refused_message_takes_no_token():
    clock = Clock()
    limits = limiter(clock, sender_burst=1, client_burst=2)
    assert limits.check("a", "ip").allowed
    for _ in range(50):
        assert not limits.check("a", "ip").allowed
    assert limits.check("b", "ip").allowed, "the refusals of 'a' did not use up the address's bucket"


def test_no_client_limit_and_disabled():
    clock = Clock()
    no_client = limiter(clock, client_burst=None, client_per_minute=None)
    assert all(no_client.check(f"s{i}", "ip").allowed for i in range(50))
    off = limiter(clock, enabled=False)
    assert all(off.check("a", "ip").allowed for _ in range(50))


def test_idle_senders_are_forgotten_and_memory_is_bounded():
    clock = Clock()
    buckets = TokenBuckets(burst=2, per_minute=60, max_keys=50, clock=clock)
    for i in range(40):
        buckets.take(f"s{i}")
    assert len(buckets) == 40
    clock.now += 2  # every bucket has refilled: they are all forgotten on the next call
    buckets.take("new")
    assert len(buckets) == 1
    for i in range(500):
        buckets.take(f"t{i}")
    assert len(buckets) == 50, "never more than max_keys"
    assert buckets.wait("t499") == 0 and buckets.wait("t0") == 0


def test_settings_defaults_and_the_bundled_file():
    settings = load_settings()
    assert settings.rate_limit == RateLimit()
    assert settings.input_limits == InputLimits()
    policy = settings.rate_limit
    assert policy.sender_burst >= 10 and policy.sender_per_minute >= 30, "never bothers a real patient"


@pytest.mark.parametrize(
    "section, message",
    [
        ({"rate_limit": {"sender_burst": 0}}, "rate_limit.sender_burst"),
        ({"rate_limit": {"sender_burst": True}}, "rate_limit.sender_burst"),
        ({"rate_limit": {"sender_per_minute": "many"}}, "rate_limit.sender_per_minute"),
        ({"rate_limit": {"client_burst": None}}, "set together"),
        ({"rate_limit": {"enabled": "yes"}}, "rate_limit.enabled"),
        ({"rate_limit": {"burst": 3}}, "rate_limit.burst"),
        ({"rate_limit": [1]}, "'rate_limit' must be a mapping"),
        ({"input_limits": {"max_message_chars": 5}}, "input_limits.max_message_chars"),
        ({"input_limits": {"max_body_bytes": 2000, "max_message_chars": 5000}}, "max_body_bytes"),
        ({"input_limits": {"other": 1}}, "input_limits.other"),
    ],
)
def test_bad_limit_settings_name_the_field(tmp_path, section, message):
    raw = yaml.safe_load((ROOT / "bot" / "clinic.yml").read_text())
    raw.update(section)
    path = tmp_path / "clinic.yml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SettingsError, match=message.replace(".", r"\.")):
        load_settings(path)


def test_limits_can_be_relaxed_or_switched_off(tmp_path):
    raw = yaml.safe_load((ROOT / "bot" / "clinic.yml").read_text())
    raw["rate_limit"] = {"sender_burst": 100, "client_burst": None, "client_per_minute": None}
    raw["input_limits"] = None
    path = tmp_path / "clinic.yml"
    path.write_text(yaml.safe_dump(raw))
    settings = load_settings(path)
    assert settings.rate_limit.sender_burst == 100 and settings.rate_limit.client_burst is None
    assert settings.rate_limit.sender_per_minute == RateLimit().sender_per_minute
    assert settings.input_limits == InputLimits()


@pytest.mark.parametrize(
    "value, expected",
    [
        ("abc", "abc"),
        (42, "42"),
        (True, None),
        (None, None),
        ("", None),
        ("   ", None),
        ("a\x00b", None),
        ("a\nb", None),
        ("\ud800", None),
        ("x" * 128, "x" * 128),
        ("x" * 129, None),
        (["a"], None),
        ("émoji 😀 名前", "émoji 😀 名前"),
    ],
)
def test_valid_sender(value, expected):
    assert valid_sender(value) == expected


def test_clean_text_keeps_words_and_replaces_control_characters():
    assert clean_text("a\x00b\x07c\x1b[31m\x7f\x85d") == "a b c [31m  d"
    assert clean_text("line\nnext\ttab") == "line\nnext\ttab"
    assert clean_text("x\ud800y") == "x y"
    assert clean_text("😀 名前 ‮") == "😀 名前 ‮"


@pytest.mark.parametrize(
    "body, code",
    [
        (b"[]", "not_an_object"),
        (b"\xff", "invalid_utf8"),
        (b"{", "invalid_json"),
        (b'{"sender": "a"}', "invalid_message"),
        (b'{"message": "a"}', "invalid_sender"),
        (b'{"sender": "a", "message": "b", "metadata": []}', "invalid_metadata"),
        (b'{"sender": "a", "message": "b", "input_channel": "x\\u0000"}', "invalid_input_channel"),
    ],
)
def test_parse_request_refuses(body, code):
    with pytest.raises(BadRequest) as refused:
        parse_request(body)
    assert refused.value.status == 400 and refused.value.code == code


def test_parse_request_accepts():
    body = b'\xef\xbb\xbf{"sender": 7, "message": "hi", "metadata": {"a": 1}, "input_channel": null}'
    assert parse_request(body) == ("7", "hi", {"a": 1}, "rest")


def test_client_address():
    class Request:
        remote_addr = ""
        ip = "127.0.0.1"

    assert client_address(Request()) == "127.0.0.1"
    Request.remote_addr = "10.1.2.3"
    assert client_address(Request()) == "10.1.2.3"
    assert client_address(None) == ""


# Properties under any sequence of messages (hypothesis).

events = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=30, allow_nan=False),  # seconds since the previous message
        st.integers(0, 30),  # sender
        st.integers(0, 3),  # address
    ),
    max_size=300,
)


@hypothesis_settings(max_examples=examples(200))
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
