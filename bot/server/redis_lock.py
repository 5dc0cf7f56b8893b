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

This hook wraps each of those read-change-write steps in a short Redis mutex per
conversation (redis-py's ``Lock``: ``SET NX PX`` with a token, released by a
script), so they happen one at a time across all replicas. The ticket logic
itself stays Rasa's. The mutex expires by itself after
:data:`MUTEX_TIMEOUT_SECONDS` if a replica dies while holding it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

MUTEX_TIMEOUT_SECONDS = 10.0  # a replica that dies holding the mutex blocks others at most this long
MUTEX_WAIT_SECONDS = 10.0  # how long a step waits for the mutex before giving up (LockError)
MUTEX_POLL_SECONDS = 0.002

_F = TypeVar("_F", bound=Callable[..., Any])
_INSTALLED = "_painclinic_atomic"


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
        from rasa.core.lock_store import LockError
        from redis.exceptions import LockError as MutexError

        try:
            with _mutex(self, conversation_id):
                return step(self, conversation_id, *args, **kwargs)
        except MutexError as error:
            raise LockError(f"Lock store busy for conversation '{conversation_id}': {error}") from error

    return guarded  # type: ignore[return-value]


def install() -> None:
    """Replaces ``RedisLockStore``'s read-change-write steps with guarded ones (once)."""
    from rasa.core.lock_store import LockStore, RedisLockStore

    if getattr(RedisLockStore, _INSTALLED, False):
        return
    finish_serving = RedisLockStore.finish_serving

    def cleanup(self: Any, conversation_id: str, ticket_number: int) -> None:
        # Rasa's cleanup = finish_serving + delete when nobody waits; done as one step
        # (calling the unguarded finish_serving: the mutex is not re-entrant).
        finish_serving(self, conversation_id, ticket_number)
        if not LockStore.is_someone_waiting(self, conversation_id):
            self.delete_lock(conversation_id)

    RedisLockStore.issue_ticket = _guarded(RedisLockStore.issue_ticket)
    RedisLockStore.update_lock = _guarded(RedisLockStore.update_lock)
    RedisLockStore.finish_serving = _guarded(finish_serving)
    RedisLockStore.cleanup = _guarded(functools.wraps(LockStore.cleanup)(cleanup))
    setattr(RedisLockStore, _INSTALLED, True)


__all__ = ["install"]
