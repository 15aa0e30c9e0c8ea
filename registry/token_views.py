"""The user's API tokens at /profile/tokens/: list, create (the key is shown once) and
revoke. Tokens belong to the signed-in user only; another user's token is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from registry import selectors
from registry.tokens import token_issue, token_revoke


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request):
    new_key = None
    if request.method == "POST":
        name = (request.POST.get("name") or "").strip()[:100] or "API token"
        token, new_key = token_issue(user=request.user, name=name)
    tokens = selectors.api_tokens_of(user=request.user)
    response = render(request, "registry/tokens.html", {"tokens": tokens, "new_key": new_key})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke_view(request, token_id: int):
    token = selectors.api_tokens_of(user=request.user).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    token_revoke(token=token)
    messages.success(request, f"Token {token.name} ({token.prefix}...) revoked.")
    return redirect("api-tokens")
