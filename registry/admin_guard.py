"""Privilege boundaries in the admin: who may change which account.

No one but a superuser changes a superuser, a peer administrator (a registry
administrator), their own roles, or another user's password.
"""

from __future__ import annotations

from registry import access


def is_registry_admin(user) -> bool:
    return access.registry_admin_user_ids().filter(user_id=user.pk).exists()


def may_manage_user(actor, target) -> bool:
    """Whether ``actor`` may change ``target``'s account, roles and memberships."""
    if actor.is_superuser:
        return True
    if target is None:
        return True
    if target.pk == actor.pk or target.is_superuser:
        return False
    return not is_registry_admin(target)


def may_set_password(actor, target) -> bool:
    return actor.is_superuser or target.pk == actor.pk


def manageable_users(actor, qs):
    """``qs`` (users) narrowed to those ``actor`` may manage."""
    if actor.is_superuser:
        return qs
    return qs.exclude(pk=actor.pk).exclude(is_superuser=True).exclude(pk__in=access.registry_admin_user_ids())
