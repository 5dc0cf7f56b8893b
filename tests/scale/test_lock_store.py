"""Rasa's Redis lock store with the project's hook (bot/server/redis_lock.py), against
a real Redis: two lock stores (two replicas) taking tickets for one conversation
at the same moment get distinct tickets, and the lock is gone when all are served."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, List

import pytest

from tests.scale.services import Redis, redis_server

pytestmark = pytest.mark.scale


@pytest.fixture(scope="module")
def redis() -> Iterator[Redis]:
    with redis_server(secrets.token_hex(16)) as server:
        yield server


def replicas(redis: Redis, count: int = 2) -> List:
    from rasa.core.lock_store import RedisLockStore

    from bot.server import redis_lock

    redis_lock.install()
    return [
        RedisLockStore(host=redis.host, port=redis.port, password=redis.password, key_prefix="painclinic")
        for _ in range(count)
    ]


def test_simultaneous_tickets_from_two_replicas_are_distinct_and_the_lock_is_cleaned_up(redis):
    stores = replicas(redis)
    conversation = f"patient-{secrets.token_hex(6)}"
    start = threading.Barrier(20)

    def take(index: int) -> int:
        start.wait()
        return stores[index % 2].issue_ticket(conversation)

    with ThreadPoolExecutor(20) as pool:
        tickets = list(pool.map(take, range(20)))
    assert sorted(tickets) == list(range(20))
    lock = stores[0].get_lock(conversation)
    assert lock is not None and lock.now_serving == 0 and len(lock.tickets) == 20

    def give_back(ticket: int) -> None:
        start.wait()
        stores[ticket % 2].cleanup(conversation, ticket)

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(give_back, tickets))
    # Every ticket given back from either replica at once, none lost: nothing left in Redis.
    assert stores[1].get_lock(conversation) is None
    assert redis.client(db=1).keys(f"painclinic:lock:{conversation}*") == []


def test_install_is_idempotent():
    from rasa.core.lock_store import RedisLockStore

    from bot.server import redis_lock

    redis_lock.install()
    issue_ticket = RedisLockStore.issue_ticket
    redis_lock.install()
    assert RedisLockStore.issue_ticket is issue_ticket
