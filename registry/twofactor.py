"""Two-factor sign-in (django-otp): TOTP with QR enrolment and one-time backup codes.

A session that passed only the password is "unverified". The middleware lets an
unverified session reach nothing but the enrolment / verification pages and logout:

- a user with a confirmed TOTP device must enter a code (or a backup code) first;
- with ``settings.REQUIRE_2FA`` on, a user with a clinical or admin role (any site role
  but researcher, staff, superuser) who has no device must enrol first.

API tokens are not affected here: minting one already asks for the second factor.
"""

from __future__ import annotations

import base64
import io
import secrets

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry import access
from registry.audit import audit_record
from registry.models import AuditEvent

BACKUP_CODES = 10
SESSION_ENROLLED = "registry_2fa_enrolled"
# Reachable by an unverified session: enrolment, verification, sign-out, static files.
EXEMPT_PREFIXES = ("/account/2fa/", "/accounts/logout/", "/admin/logout/", "/static/", "/healthz")


# --- who needs what ---------------------------------------------------------------------


def is_enrolled(user) -> bool:
    return user_has_device(user, confirmed=True)


def is_required(user) -> bool:
    """Whether ``user`` must hold a second factor under ``settings.REQUIRE_2FA``."""
    if not settings.REQUIRE_2FA:
        return False
    if user.is_superuser or user.is_staff:
        return True
    scope = access.scope_for(user)
    return scope.all_sites or bool(scope.clinical_site_ids)


def remember_enrolment(request: HttpRequest, user) -> None:
    """Kept in the session at sign-in so ordinary requests cost no device query."""
    request.session[SESSION_ENROLLED] = is_enrolled(user)


# --- enrolment, backup codes, reset --------------------------------------------------------


def totp_pending_device(*, user) -> TOTPDevice:
    """The user's unconfirmed TOTP device (created on first call), to be confirmed with
    a code from the authenticator app."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def qr_svg(url: str) -> str:
    """The otpauth:// URL as an inline SVG QR code (drawn here: no third-party service
    ever sees the secret)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]  # drop the XML declaration: the SVG sits inside HTML


def base32_secret(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode()


def totp_confirm(*, user, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm enrolment with a first code; returns the one-time backup codes (shown
    once), or ``None`` when the code is wrong."""
    if device.user_id != user.pk or device.confirmed or not device.verify_token(_digits(code)):
        return None
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        codes = backup_codes_replace(user=user)
        audit_record(user=user, action=AuditEvent.Action.TWO_FACTOR_ENROL, obj=user, changes={"device": [None, "totp"]})
    return codes


def backup_codes_replace(*, user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    codes = [secrets.token_hex(5) for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


def two_factor_reset(*, user, by) -> None:
    """Remove every device of ``user`` (lost phone) and end their sessions; audited."""
    from registry.account_events import end_sessions

    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[0] + StaticDevice.objects.filter(user=user).delete()[0]
        audit_record(
            user=by,
            action=AuditEvent.Action.TWO_FACTOR_RESET,
            obj=user,
            changes={"devices_removed": [removed, 0]},
        )
    end_sessions(user)


def verify_code(*, user, code: str):
    """The device that accepts ``code`` (a TOTP code or an unused backup code), or None.
    TOTP devices throttle repeated failures themselves."""
    from django_otp import match_token

    code = (code or "").strip().replace(" ", "")
    if not code or len(code) > 16:
        return None
    return match_token(user, code)


def _digits(code: str) -> str:
    return "".join(ch for ch in (code or "") if ch.isdigit())[:8]


# --- enforcement ------------------------------------------------------------------------


class TwoFactorMiddleware:
    """After django-otp's OTPMiddleware: keeps an unverified session away from data."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.two_factor_pending = False
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not user.is_verified():
            enrolled = request.session.get(SESSION_ENROLLED)
            if enrolled is None:
                remember_enrolment(request, user)
                enrolled = request.session[SESSION_ENROLLED]
            route = "two-factor-verify" if enrolled else "two-factor-setup" if is_required(user) else ""
            # (read by the header's context processor: no counts of patient data either)
            request.two_factor_pending = bool(route)
            if route and not request.path.startswith(EXEMPT_PREFIXES):
                return self._refuse(request, route)
        return self.get_response(request)

    @staticmethod
    def _refuse(request: HttpRequest, route: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            message = "enter your authentication code first" if route == "two-factor-verify" else "enrol first"
            return JsonResponse({"detail": f"Two-factor sign-in required: {message}."}, status=403)
        from django.urls import reverse
        from django.utils.http import urlencode

        return redirect(f"{reverse(route)}?{urlencode({'next': request.get_full_path()})}")
