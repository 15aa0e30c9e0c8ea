"""API throttling that never turns a cache outage into an error: the request is allowed.

DRF's ``UserRateThrottle`` keeps each user's request times as one pickled list in the
cache, read and written whole on every request: up to ``num_requests`` floats (6,000 at
the default rate), so a busy client pays for its own history on each call. On Redis the
same sliding window is a sorted set updated by one script (drop the times older than the
window, count, add the new time if allowed): one round trip, a constant amount of data,
and two requests that arrive together cannot both take the last place. The decision and
the ``Retry-After`` it gives are DRF's: at most ``num_requests`` requests in any
``duration`` seconds, times exactly ``duration`` old leave the window.
"""

from __future__ import annotations

import logging
import secrets
import weakref

import redis
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import UserRateThrottle

log = logging.getLogger(__name__)

# KEYS[1] the window; ARGV: now, the oldest time still outside the window, the limit, a
# unique member for this request, the key's lifetime in seconds.
# Returns {allowed (0/1), requests in the window, the oldest time in it (when refused)}.
_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return {1, n + 1, false}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, n, oldest[2] or false}
"""
_script = redis.Redis().register_script(_WINDOW)  # (no connection until called with a client)
# One client per cache backend (Django's builds a new one for every call).
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _client_for(backend: RedisCache, key: str) -> redis.Redis:
    client = _clients.get(backend._cache)
    if client is None:
        client = _clients[backend._cache] = backend._cache.get_client(key, write=True)
    return client


class FailOpenUserRateThrottle(UserRateThrottle):
    def allow_request(self, request, view) -> bool:
        try:
            backend = caches[DEFAULT_CACHE_ALIAS] if self.cache is default_cache else self.cache
            if isinstance(backend, RedisCache):
                return self._allow_on_redis(request, view, backend)
            return super().allow_request(request, view)
        except Exception as exc:  # any cache failure: throttling is protection, not a gate
            log.warning("throttle skipped: cache error %s", type(exc).__name__)
            return True

    def _allow_on_redis(self, request, view, backend: RedisCache) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        breaker = getattr(backend, "breaker", None)
        if breaker is not None and breaker.is_open():
            return True
        self.now = self.timer()
        # a key of its own: the list DRF stores under ``self.key`` is another type
        key = backend.make_and_validate_key(f"{self.key}:window")
        args = [
            repr(self.now),
            repr(self.now - self.duration),
            self.num_requests,
            self._member(),
            int(self.duration) + 1,
        ]
        try:
            allowed, count, oldest = _script(keys=[key], args=args, client=_client_for(backend, key))
        except (redis.RedisError, OSError) as exc:
            if breaker is not None:
                breaker.trip(exc)
            return True
        if allowed:
            return True
        # what DRF's wait() reads: the window's length and its oldest entry (last in its list)
        self.history = [float(oldest)] * int(count) if oldest else []
        return self.throttle_failure()

    def _member(self) -> str:
        return f"{self.now!r}:{secrets.token_hex(4)}"
