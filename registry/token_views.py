"""The user's API tokens at /profile/tokens/: list (with expiry), create (the key is shown
once; the password, and the second factor when enrolled, are asked again) and revoke.
Tokens belong to the signed-in user only; another user's token is a 404."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from registry import selectors, twofactor
from registry.tokens import token_issue, token_revoke


def _reauthenticated(request) -> str:
    """Minting a token asks for the password again (and a second-factor code when the user
    has one): a session left open must not be enough to take away a key. Returns an error."""
    if not request.user.check_password(request.POST.get("password") or ""):
        return "Enter your password to create a token."
    if (
        twofactor.is_enrolled(request.user)
        and twofactor.verify_code(user=request.user, code=request.POST.get("otp_code") or "") is None
    ):
        return "Enter the code from your authenticator app to create a token."
    return ""


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request):
    new_key, error = None, ""
    if request.method == "POST":
        name = (request.POST.get("name") or "").strip()[:100] or "API token"
        error = _reauthenticated(request)
        if not error:
            token, new_key = token_issue(user=request.user, name=name)
    context = {
        "tokens": selectors.api_tokens_of(user=request.user),
        "new_key": new_key,
        "error": error,
        "needs_code": twofactor.is_enrolled(request.user),
        "token_days": settings.API_TOKEN_DAYS,
        "now": timezone.now(),
    }
    response = render(request, "registry/tokens.html", context, status=400 if error else 200)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke_view(request, token_id: int):
    token = selectors.api_tokens_of(user=request.user).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    token_revoke(token=token, by=request.user)
    messages.success(request, f"Token {token.name} ({token.prefix}...) revoked.")
    return redirect("api-tokens")
