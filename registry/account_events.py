"""Account events in the audit trail, and what some of them must set off.

Sign-in, sign-in failure and lockout come from Django's and django-axes' signals;
password, role, membership and deactivation changes are caught on the model save,
because they are made in places the registry does not own (the admin, ``manage.py
changepassword``). Who made the change comes from :class:`ActorMiddleware`.

- a password change revokes the user's API tokens;
- deactivation ends the user's sessions and revokes their tokens at once.
"""

from __future__ import annotations

import contextvars

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.contrib.sessions.models import Session
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from registry import access
from registry.audit import audit_record
from registry.models import ApiToken, AuditEvent, Membership, User

_actor: contextvars.ContextVar = contextvars.ContextVar("registry_actor", default=None)
WATCHED_USER_FIELDS = ("password", "is_active", "is_staff", "is_superuser")


class ActorMiddleware:
    """Remembers who makes the current request, for events raised on a model save."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _actor.set(getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            _actor.reset(token)


def current_actor():
    actor = _actor.get()
    return actor if getattr(actor, "is_authenticated", False) else None


def end_sessions(user) -> int:
    """Delete every stored session of ``user`` (sessions live 30 minutes idle, so the
    live ones are few enough to read)."""
    ended = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            ended.append(session.pk)
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)


def tokens_revoke_all(*, user, by, reason: str) -> int:
    from registry.tokens import token_revoke

    tokens = list(ApiToken.objects.filter(user=user, revoked_at__isnull=True))
    for token in tokens:
        token_revoke(token=token, by=by, reason=reason)
    return len(tokens)


# --- sign-in ----------------------------------------------------------------------------


@receiver(user_logged_in)
def _signed_in(sender, request, user, **kwargs) -> None:
    audit_record(user=user, action=AuditEvent.Action.SIGN_IN, obj=user, changes={"factor": [None, "password"]})
    if request is not None and hasattr(request, "session"):
        from registry.twofactor import remember_enrolment

        remember_enrolment(request, user)


@receiver(user_login_failed)
def _sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str(credentials.get("username") or "")[:64]
    user = User.objects.filter(username=username).first()
    # The attempted name is kept only when it is an account: a password typed into the
    # username field must not end up in the trail.
    event = AuditEvent(
        action=AuditEvent.Action.SIGN_IN_FAILED, model=User._meta.label, object_id=str(user.pk) if user else ""
    )
    _append(event, reason="unknown username" if user is None else "")


def _append(event: AuditEvent, reason: str = "") -> None:
    from registry import audit_chain

    event.at = timezone.now()
    event.reason = reason
    audit_chain.append(event)


def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    user = User.objects.filter(username=str(username or "")[:150]).first()
    event = AuditEvent(action=AuditEvent.Action.LOCKOUT, model=User._meta.label, object_id=str(user.pk) if user else "")
    _append(event, reason="repeated failed sign-ins")


def connect_axes() -> None:
    from axes.signals import user_locked_out

    user_locked_out.connect(_locked_out, dispatch_uid="registry_audit_lockout")


# --- user and membership changes ----------------------------------------------------------


@receiver(pre_save, sender=User)
def _remember_user_fields(sender, instance: User, update_fields=None, **kwargs) -> None:
    if instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(WATCHED_USER_FIELDS):
        return  # e.g. last_login at every sign-in: no query
    instance._before = User.objects.filter(pk=instance.pk).values(*WATCHED_USER_FIELDS).first()


@receiver(post_save, sender=User)
def _user_changed(sender, instance: User, created: bool, **kwargs) -> None:
    before = getattr(instance, "_before", None)
    instance._before = None
    if created or not before:
        return
    by = current_actor()
    if before["password"] != instance.password:
        audit_record(user=by, action=AuditEvent.Action.PASSWORD_CHANGE, obj=instance, changes={"password": ["*", "*"]})
        tokens_revoke_all(user=instance, by=by, reason="password changed")
    flags = {
        f: [before[f], getattr(instance, f)] for f in ("is_staff", "is_superuser") if before[f] != getattr(instance, f)
    }
    if flags:
        audit_record(user=by, action=AuditEvent.Action.ROLE_CHANGE, obj=instance, changes=flags)
    if before["is_active"] and not instance.is_active:
        audit_record(user=by, action=AuditEvent.Action.DEACTIVATE, obj=instance, changes={"is_active": [True, False]})
        tokens_revoke_all(user=instance, by=by, reason="user deactivated")
        end_sessions(instance)


@receiver(pre_save, sender=Membership)
def _remember_role(sender, instance: Membership, **kwargs) -> None:
    instance._before = access.membership_row(instance.pk)


@receiver(post_save, sender=Membership)
def _membership_saved(sender, instance: Membership, created: bool, **kwargs) -> None:
    before = getattr(instance, "_before", None) or {}
    changes = {
        "site": [before.get("site_id"), instance.site_id],
        "role": [before.get("role"), instance.role],
    }
    changes = {k: v for k, v in changes.items() if v[0] != v[1]}
    if changes:
        audit_record(
            user=current_actor(),
            action=AuditEvent.Action.ROLE_CHANGE,
            obj=instance.user,
            changes={"membership": [None, instance.pk], **changes},
        )


@receiver(post_delete, sender=Membership)
def _membership_deleted(sender, instance: Membership, **kwargs) -> None:
    audit_record(
        user=current_actor(),
        action=AuditEvent.Action.ROLE_CHANGE,
        obj=instance.user,
        changes={"membership": [instance.pk, None], "site": [instance.site_id, None], "role": [instance.role, None]},
    )
