"""Sign-in lockout beyond django-axes' (username, address) pair.

django-axes locks one username from one address after ``AXES_FAILURE_LIMIT`` failures.
Two attacks slip past that: one account guessed from many addresses, and one password
sprayed over many accounts from one address. This handler adds two wider counters over
the same failure records, at higher thresholds: failures for the username from any
address, and failures from the address for any username, within the cool-off window.

The answer is the same whatever tripped the lock, and whether the account exists.
"""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone


def _failures(**lookup) -> int:
    since = timezone.now() - get_cool_off()
    total = AccessAttempt.objects.filter(attempt_time__gte=since, **lookup).aggregate(n=Sum("failures_since_start"))
    return total["n"] or 0


class RegistryLockoutHandler(AxesDatabaseHandler):
    def get_failures(self, request, credentials=None) -> int:
        pair = super().get_failures(request, credentials)
        limit = settings.AXES_FAILURE_LIMIT
        if pair >= limit:
            return pair
        username = get_client_username(request, credentials)
        address = getattr(request, "axes_ip_address", None)
        if username and _failures(username=username) >= settings.LOCKOUT_USERNAME_LIMIT:
            return limit
        if address and _failures(ip_address=address) >= settings.LOCKOUT_ADDRESS_LIMIT:
            return limit
        return pair
