"""API token authentication: ``Authorization: Bearer <key>`` (or ``Token <key>``).

Only the SHA-256 hash of a key is stored; a revoked or expired token is refused. Keys are never
accepted in URLs.

Every API request starts here, so the lookup is one statement written out in SQL: the
live token by its hash, its user, and (on PostgreSQL) the user's memberships, which
``registry.access`` keeps as the request's scope. The ORM spent about three times as
long building the same query (two, with the memberships) as the database took to run it.
"""

from __future__ import annotations

import functools

from django.db import connections, router
from django.utils import timezone
from rest_framework import authentication, exceptions

from registry import access
from registry.models import ApiToken, User


@functools.cache
def _token_sql(vendor: str) -> str:
    t, u = ApiToken._meta, User._meta

    def col(meta, name: str) -> str:
        return f'"{meta.get_field(name).column}"'

    scope = access.scope_pairs_sql(f'u."{u.pk.column}"', vendor=vendor)
    return (
        f"SELECT u.*, t.{col(t, 'id')} AS token_id, t.{col(t, 'last_used_at')} AS token_last_used_at"
        + (f", {scope} AS scope_pairs" if scope else "")
        + f' FROM "{t.db_table}" t JOIN "{u.db_table}" u ON u."{u.pk.column}" = t.{col(t, "user")}'
        f" WHERE t.{col(t, 'key_hash')} = %s AND t.{col(t, 'revoked_at')} IS NULL AND t.{col(t, 'expires_at')} > %s"
    )


def token_user(key: str, *, now) -> tuple[User, ApiToken] | None:
    """The user of the live token ``key`` (not revoked, not expired) and the token (its
    id, user and last use loaded), or None; the user's scope is remembered."""
    db = router.db_for_read(User)
    rows = list(User.objects.db_manager(db).raw(_token_sql(connections[db].vendor), [ApiToken.hash_key(key), now]))
    if not rows:
        return None
    user = rows[0]
    extra = user.__dict__
    token = ApiToken.from_db(db, ["id", "user_id", "last_used_at"], [extra.pop("token_id"), user.pk,
                                                                     extra.pop("token_last_used_at")])  # fmt: skip
    token.user = user
    access.remember_scope(user, extra.pop("scope_pairs", None))
    return user, token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Bearer <token>'.")
        try:
            key = header[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        now = timezone.now()
        found = token_user(key, now=now)
        if found is None or not found[0].is_active:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        user, token = found
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
