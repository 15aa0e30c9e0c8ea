"""Screens of two-factor sign-in under /account/2fa/ and the user's own password change.

- ``setup/``: enrol an authenticator app (QR code drawn on the server) and receive the
  one-time backup codes;
- ``verify/``: second step of sign-in, a TOTP code or a backup code.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from registry import twofactor
from registry.audit import audit_record
from registry.models import AuditEvent


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Authentication code",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


def _next(request: HttpRequest) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return nxt
    return reverse("patient-list")


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    if twofactor.is_enrolled(request.user):
        return _no_store(render(request, "registry/two_factor_setup.html", {"enrolled": True}))
    device = twofactor.totp_pending_device(user=request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = twofactor.totp_confirm(user=request.user, device=device, code=form.cleaned_data["code"])
        if codes is not None:
            otp_login(request, device)
            request.session[twofactor.SESSION_ENROLLED] = True
            context = {"backup_codes": codes, "next": _next(request)}
            return _no_store(render(request, "registry/two_factor_done.html", context))
        form.add_error("code", "That code is not right. Check the time on your phone and try the next code.")
    context = {
        "form": form,
        "qr_svg": twofactor.qr_svg(device.config_url),
        "secret": twofactor.base32_secret(device),
        "next": _next(request),
    }
    return _no_store(render(request, "registry/two_factor_setup.html", context, status=400 if form.errors else 200))


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    if request.user.is_verified():
        return redirect(_next(request))
    if not twofactor.is_enrolled(request.user):
        request.session[twofactor.SESSION_ENROLLED] = False  # reset by an administrator meanwhile
        return redirect(f"{reverse('two-factor-setup')}?next={_next(request)}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = twofactor.verify_code(user=request.user, code=form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            audit_record(
                user=request.user,
                action=AuditEvent.Action.SIGN_IN,
                obj=request.user,
                changes={"second_factor": [None, device.__class__.__name__]},
            )
            return redirect(_next(request))
        audit_record(
            user=request.user,
            action=AuditEvent.Action.SIGN_IN_FAILED,
            obj=request.user,
            changes={"second_factor": [None, "wrong code"]},
        )
        form.add_error("code", "That code is not right (or was already used).")
    context = {"form": form, "next": _next(request)}
    return _no_store(render(request, "registry/two_factor_verify.html", context, status=400 if form.errors else 200))


class PasswordChange(auth_views.PasswordChangeView):
    """The user's own password. Changing it revokes their API tokens (see
    ``registry.account_events``) and ends their other sessions (Django's session hash)."""

    template_name = "registry/password_change.html"
    success_url = reverse_lazy("profile")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Password changed. Your API tokens were revoked; create new ones if needed.")
        return response


urlpatterns = [
    path("2fa/setup/", two_factor_setup, name="two-factor-setup"),
    path("2fa/verify/", two_factor_verify, name="two-factor-verify"),
    path("password/", login_required(PasswordChange.as_view()), name="password-change"),
]
