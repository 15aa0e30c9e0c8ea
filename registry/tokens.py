"""Per-user API tokens: issue (the key is shown once) and revoke. Only hashes are stored.

Every issue and revoke is audited; a token expires ``settings.API_TOKEN_DAYS`` after it
is issued.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from registry.audit import audit_record
from registry.models import ApiToken, AuditEvent

KEY_BYTES = 32
PREFIX_LEN = 8


def token_issue(*, user, name: str = "API token", by=None) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the plain key (never stored)."""
    key = "ldr_" + secrets.token_urlsafe(KEY_BYTES)
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name[:100] or "API token",
            prefix=key[: PREFIX_LEN + 4],
            key_hash=ApiToken.hash_key(key),
            expires_at=now + dt.timedelta(days=settings.API_TOKEN_DAYS),
        )
        audit_record(
            user=by or user,
            action=AuditEvent.Action.TOKEN_ISSUE,
            obj=token,
            changes={
                "owner": [None, user.pk],
                "prefix": [None, token.prefix],
                "expires_at": [None, token.expires_at.isoformat()],
            },
        )
    return token, key


def token_revoke(*, token: ApiToken, by=None, reason: str = "") -> ApiToken:
    with transaction.atomic():
        if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            token.refresh_from_db(fields=["revoked_at"])
            audit_record(
                user=by,
                action=AuditEvent.Action.TOKEN_REVOKE,
                obj=token,
                changes={"owner": [token.user_id, token.user_id], "prefix": [token.prefix, token.prefix]},
                reason=reason,
            )
    return token
