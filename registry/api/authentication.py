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
def _token_sql() -> str:
    """The user's columns (in the model's field order), the token's id and last use, and
    the user's memberships, of the live token with a given hash (PostgreSQL)."""
    t, u = ApiToken._meta, User._meta

    def col(meta, name: str) -> str:
        return f'"{meta.get_field(name).column}"'

    columns = ", ".join(f'u."{f.column}"' for f in u.concrete_fields)
    user_id = f"u.{col(u, 'id')}"
    return (
        f"SELECT {columns}, t.{col(t, 'id')}, t.{col(t, 'last_used_at')}, {access.scope_pairs_sql(user_id)}"
        f' FROM "{t.db_table}" t JOIN "{u.db_table}" u ON u.{col(u, "id")} = t.{col(t, "user")}'
        f" WHERE t.{col(t, 'key_hash')} = %s AND t.{col(t, 'revoked_at')} IS NULL AND t.{col(t, 'expires_at')} > %s"
    )


def token_user(key: str, *, now) -> tuple[User, ApiToken] | None:
    """The user of the live token ``key`` (not revoked, not expired) and the token (its
    id, user and last use loaded), or None; on PostgreSQL the user's scope comes along."""
    db = router.db_for_read(User)
    connection = connections[db]
    if connection.vendor != "postgresql":
        return _token_user_orm(key, now=now, db=db)
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(), [ApiToken.hash_key(key), now])
        row = cursor.fetchone()
    if row is None:
        return None
    # PostgreSQL hands every column of these models over as Python wants it (aware
    # datetimes, booleans): no converters to apply, unlike SQLite
    n = len(User._meta.concrete_fields)
    user = User.from_db(db, None, row[:n])
    token = ApiToken.from_db(db, ["id", "user_id", "last_used_at"], [row[n], user.pk, row[n + 1]])
    token.user = user
    access.remember_scope(user, row[n + 2])
    return user, token


def _token_user_orm(key: str, *, now, db: str) -> tuple[User, ApiToken] | None:
    """The same lookup through the ORM (SQLite, the demo's default database); the scope is
    read on first use."""
    token = (
        ApiToken.objects.using(db)
        .select_related("user")
        .filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    return None if token is None else (token.user, token)


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
