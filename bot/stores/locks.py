"""Makes Rasa 3.6's Redis lock store safe when several Rasa replicas share it.

Rasa serialises the turns of one conversation with a "ticket lock" kept in the
lock store: each message takes a ticket, waits until its number is served, then
gives the ticket back. ``RedisLockStore`` keeps that lock as one JSON value and
changes it by reading it, changing it in Python and writing it back
(``issue_ticket``, ``update_lock``, ``finish_serving``, ``cleanup``). Inside one
process that is safe (asyncio does not switch in between); across replicas it is
not: two replicas that take a ticket at the same moment can both read "no lock",
both get ticket 0 and handle the same conversation at once (and the tracker
store then writes their events interleaved or drops some), and a replica giving
its ticket back can overwrite another's new ticket, which then waits the full
lock lifetime (60 s).

This lock store (Rasa's, subclassed and named in the endpoints file) runs each of
those read-change-write steps under a short Redis mutex per conversation
(redis-py's ``Lock``: ``SET NX PX`` with a token, released by a
script), so they happen one at a time across all replicas. The ticket logic
itself stays Rasa's. The mutex expires by itself after
:data:`MUTEX_TIMEOUT_SECONDS` if a replica dies while holding it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Optional, TypeVar

from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig
from redis.exceptions import LockError as MutexError

MUTEX_TIMEOUT_SECONDS = 10.0  # a replica that dies holding the mutex blocks others at most this long
MUTEX_WAIT_SECONDS = 10.0  # how long a step waits for the mutex before giving up (LockError)
MUTEX_POLL_SECONDS = 0.002

_F = TypeVar("_F", bound=Callable[..., Any])


def _mutex(store: Any, conversation_id: str) -> Any:
    """The Redis mutex guarding ``conversation_id``'s ticket lock."""
    return store.red.lock(
        f"{store.key_prefix}mutex:{conversation_id}",
        timeout=MUTEX_TIMEOUT_SECONDS,
        blocking_timeout=MUTEX_WAIT_SECONDS,
        sleep=MUTEX_POLL_SECONDS,
    )


def _guarded(step: _F) -> _F:
    """``step(store, conversation_id, ...)`` run while holding the conversation's mutex."""

    @functools.wraps(step)
    def guarded(self: Any, conversation_id: str, *args: Any, **kwargs: Any) -> Any:
        try:
            with _mutex(self, conversation_id):
                return step(self, conversation_id, *args, **kwargs)
        except MutexError as error:
            raise LockError(f"Lock store busy for conversation '{conversation_id}': {error}") from error

    return guarded  # type: ignore[return-value]


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's ``RedisLockStore`` whose read-change-write steps run under a per-conversation mutex.

    Named in an endpoints file as ``lock_store: type: bot.stores.locks.AtomicRedisLockStore``
    with the same settings as Rasa's ``type: redis`` (``url``, ``port``, ``password``,
    ``db``, ``key_prefix``, ``use_ssl``, ``socket_timeout``). Rasa gives a lock store
    named by module path its endpoint settings (``rasa.core.lock_store``), and counts
    any lock store other than ``in_memory`` as safe for several Sanic workers.
    """

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, **kwargs: Any) -> None:
        settings: Dict[str, Any] = dict(kwargs)
        if endpoint_config is not None:
            settings = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **settings}
        super().__init__(**settings)

    @_guarded
    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Rasa's ``issue_ticket`` (read, add a ticket, write) as one step across replicas."""
        return super().issue_ticket(conversation_id, lock_lifetime)

    @_guarded
    def update_lock(self, conversation_id: str) -> None:
        """Rasa's ``update_lock`` (read, drop expired tickets, write) as one step."""
        super().update_lock(conversation_id)

    @_guarded
    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Rasa's ``finish_serving`` (read, drop the ticket, write) as one step."""
        self._finish_serving(conversation_id, ticket_number)

    @_guarded
    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Rasa's ``cleanup`` (give the ticket back, delete the lock if nobody waits) as one step."""
        # Rasa's cleanup = finish_serving + delete when nobody waits, done here as one
        # step (with the unguarded finish_serving: the mutex is not re-entrant).
        self._finish_serving(conversation_id, ticket_number)
        if not self.is_someone_waiting(conversation_id):
            self.delete_lock(conversation_id)

    def _finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        RedisLockStore.finish_serving(self, conversation_id, ticket_number)


__all__ = ["AtomicRedisLockStore"]
