"""The API throttle on Redis (ops/throttling.py) decides as DRF's list-based throttle does,
with one script call per request: same allow / refuse sequence and the same Retry-After
for any arrival times, no more than the limit when requests race, open when Redis fails.
Runs against the real Redis of REDIS_URL; DRF's own throttle runs on a local cache."""

from __future__ import annotations

import itertools
import threading
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rest_framework.throttling import UserRateThrottle

from ops.cache import FailOpenRedisCache
from ops.throttling import FailOpenUserRateThrottle
from tests.ops.faults import dead_port

_users = itertools.count(10**9)


def _redis_cache(location: str | None = None) -> FailOpenRedisCache:
    assert settings.REDIS_URL, "the throttle tests need REDIS_URL (a real Redis)"
    return FailOpenRedisCache(location or settings.REDIS_URL, {"OPTIONS": {"socket_timeout": 0.5}})


def _request(user_id: int):
    return SimpleNamespace(user=SimpleNamespace(pk=user_id, is_authenticated=True), META={})


def _throttle(cls, rate: str, cache, clock: list[float]):
    throttle_class = type("T", (cls,), {"rate": rate, "cache": cache, "timer": lambda self: clock[0]})
    return throttle_class()


def _decisions(cls, rate: str, cache, times: list[float], user_id: int) -> list[tuple[bool, float | None]]:
    clock = [0.0]
    out = []
    for t in times:
        clock[0] = t
        throttle = _throttle(cls, rate, cache, clock)  # DRF makes one per request
        allowed = throttle.allow_request(_request(user_id), None)
        out.append((allowed, None if allowed else round(throttle.wait(), 9)))
    return out


arrivals = st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=40).map(
    lambda gaps: list(itertools.accumulate(gaps, initial=1_700_000_000.0))[1:]
)


@hsettings(max_examples=60, deadline=None)
@given(times=arrivals, rate=st.sampled_from(["1/s", "3/s", "2/min", "5/min", "10/min"]))
def test_same_decisions_and_retry_after_as_drf(times, rate):
    user_id = next(_users)
    ours = _decisions(FailOpenUserRateThrottle, rate, _redis_cache(), times, user_id)
    drf = _decisions(UserRateThrottle, rate, LocMemCache(f"drf-{user_id}", {}), times, user_id)
    assert ours == drf


def test_a_request_exactly_one_window_later_is_allowed_again():
    user_id = next(_users)
    t0 = 1_700_000_000.0
    times = [t0, t0 + 0.5, t0 + 0.9, t0 + 60.0, t0 + 60.4]
    assert [a for a, _ in _decisions(FailOpenUserRateThrottle, "2/min", _redis_cache(), times, user_id)] == [
        True, True, False, True, False,
    ]  # fmt: skip


def test_the_window_is_one_sorted_set_in_redis():
    cache = _redis_cache()
    user_id = next(_users)
    _decisions(FailOpenUserRateThrottle, "5/min", cache, [1.0, 2.0, 3.0], user_id)
    key = cache.make_and_validate_key(f"throttle_user_{user_id}:window")
    client = cache._cache.get_client(key)
    assert client.type(key) == b"zset" and client.zcard(key) == 3
    assert 0 < client.ttl(key) <= 61


def test_racing_requests_never_exceed_the_limit():
    cache = _redis_cache()
    user_id = next(_users)
    allowed = []
    start = threading.Barrier(12)

    def one() -> None:
        throttle = type("T", (FailOpenUserRateThrottle,), {"rate": "5/min", "cache": cache})()
        start.wait()
        allowed.append(throttle.allow_request(_request(user_id), None))

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(allowed) == [False] * 7 + [True] * 5


def test_redis_refusing_connections_lets_requests_through():
    cache = _redis_cache(f"redis://127.0.0.1:{dead_port()}/0")
    throttle = type("T", (FailOpenUserRateThrottle,), {"rate": "1/min", "cache": cache})()
    try:
        assert all(throttle.allow_request(_request(next(_users)), None) for _ in range(3))
        assert cache.breaker.is_open()  # later calls skip Redis until the pause ends
    finally:
        cache.breaker.paused_until = 0.0


@pytest.mark.django_db
def test_throttled_api_answers_429_with_retry_after(clinician_a, settings):
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from registry.tokens import token_issue

    cache.clear()
    old = UserRateThrottle.THROTTLE_RATES
    UserRateThrottle.THROTTLE_RATES = {"user": "2/hour"}
    try:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=clinician_a)[1]}")
        answers = [client.get("/api/v1/sites/") for _ in range(3)]
    finally:
        UserRateThrottle.THROTTLE_RATES = old
        cache.clear()
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 3590 <= int(answers[2]["Retry-After"]) <= 3600
