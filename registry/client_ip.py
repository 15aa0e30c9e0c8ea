"""The client's address, for the login lockout and the audit trail.

Directly exposed, it is the connection's own address: a client-sent X-Forwarded-For is
ignored (it would let an attacker pick a fresh address for every password guess). Behind
the TLS-terminating proxy (DJANGO_BEHIND_PROXY=1) it is the last X-Forwarded-For hop, the
one our proxy appended.
"""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    if not getattr(settings, "BEHIND_PROXY", False):
        return remote
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    return forwarded[-1] if forwarded else remote
