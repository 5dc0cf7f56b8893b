"""Conversation stores of this project, named by module path in the endpoints files.

- :class:`bot.stores.locks.AtomicRedisLockStore`: Rasa's Redis lock store, safe when
  several Rasa replicas share it (``deploy/endpoints.production.yml``).
"""
