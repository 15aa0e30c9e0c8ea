"""A Redis cache that fails open: while Redis is down, refusing or silent, every read is a
miss and every write is dropped, after at most one short socket timeout.

After a failure the cache stays "open" (no Redis call at all) for ``PAUSE_SECONDS``, so a
request that reads the cache several times pays the timeout once, not once per call.
"""

from __future__ import annotations

import functools
import logging
import threading
import time

import redis
from django.core.cache.backends.redis import RedisCache

log = logging.getLogger(__name__)
PAUSE_SECONDS = 10.0


class _Breaker:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paused_until = 0.0

    def is_open(self) -> bool:
        return time.monotonic() < self.paused_until

    def trip(self, exc: Exception) -> None:
        with self.lock:
            already = self.is_open()
            self.paused_until = time.monotonic() + PAUSE_SECONDS
        if not already:
            log.warning("cache unavailable (%s); serving without it for %.0f s", type(exc).__name__, PAUSE_SECONDS)


def _fail_open(fallback):
    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if self.breaker.is_open():
                return fallback
            try:
                return method(self, *args, **kwargs)
            except (redis.RedisError, OSError) as exc:
                self.breaker.trip(exc)
                return fallback

        return wrapper

    return decorate


class FailOpenRedisCache(RedisCache):
    breaker = _Breaker()

    def get(self, key, default=None, version=None):
        if self.breaker.is_open():
            return default
        try:
            return super().get(key, default, version)
        except (redis.RedisError, OSError) as exc:
            self.breaker.trip(exc)
            return default

    set = _fail_open(None)(RedisCache.set)
    add = _fail_open(False)(RedisCache.add)
    touch = _fail_open(False)(RedisCache.touch)
    delete = _fail_open(False)(RedisCache.delete)
    get_many = _fail_open({})(RedisCache.get_many)
    has_key = _fail_open(False)(RedisCache.has_key)
    set_many = _fail_open([])(RedisCache.set_many)
    delete_many = _fail_open(None)(RedisCache.delete_many)
    clear = _fail_open(False)(RedisCache.clear)

    def incr(self, key, delta=1, version=None):
        # a missing key raises ValueError (Django's contract); an outage counts as a miss too
        if self.breaker.is_open():
            raise ValueError(f"Key '{key}' not found (cache unavailable).")
        try:
            return super().incr(key, delta, version)
        except (redis.RedisError, OSError) as exc:
            self.breaker.trip(exc)
            raise ValueError(f"Key '{key}' not found (cache unavailable).") from exc
