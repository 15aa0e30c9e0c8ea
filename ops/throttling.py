"""API throttling that never turns a cache outage into an error: the request is allowed."""

from __future__ import annotations

import logging

from rest_framework.throttling import UserRateThrottle

log = logging.getLogger(__name__)


class FailOpenUserRateThrottle(UserRateThrottle):
    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # any cache failure: throttling is protection, not a gate
            log.warning("throttle skipped: cache error %s", type(exc).__name__)
            return True
