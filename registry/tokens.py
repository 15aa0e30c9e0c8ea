"""Per-user API tokens: issue (the key is shown once) and revoke. Only hashes are stored."""

from __future__ import annotations

import secrets

from django.utils import timezone

from registry.models import ApiToken

KEY_BYTES = 32
PREFIX_LEN = 8


def token_issue(*, user, name: str = "API token") -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the plain key (never stored)."""
    key = "ldr_" + secrets.token_urlsafe(KEY_BYTES)
    token = ApiToken.objects.create(
        user=user, name=name[:100] or "API token", prefix=key[: PREFIX_LEN + 4], key_hash=ApiToken.hash_key(key)
    )
    return token, key


def token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
