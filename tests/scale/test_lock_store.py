"""The project's Redis lock store (bot/stores/locks.py, Rasa's with atomic steps), against
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
    from rasa.core.lock_store import LockStore
    from rasa.utils.endpoints import EndpointConfig

    # Built as Rasa builds it from deploy/endpoints.production.yml's lock_store section.
    config = EndpointConfig(
        url=redis.host,
        type="bot.stores.locks.AtomicRedisLockStore",
        port=redis.port,
        password=redis.password,
        db=1,
        key_prefix="painclinic",
    )
    return [LockStore.create(config) for _ in range(count)]


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


def test_rasa_builds_the_atomic_store_from_the_production_endpoints(redis):
    from rasa.core.utils import number_of_sanic_workers

    from bot.stores.locks import AtomicRedisLockStore

    store = replicas(redis, 1)[0]
    assert isinstance(store, AtomicRedisLockStore)
    assert store.key_prefix == "painclinic:lock:"
    # Rasa allows several Sanic workers with it, as with its own Redis lock store.
    assert number_of_sanic_workers(store) >= 1
