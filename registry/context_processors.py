from __future__ import annotations

from registry import access


def registry_context(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    scope = access.scope_for(user)
    return {
        "user_sites": access.sites_for_user(user),
        "user_is_researcher_only": scope.is_researcher_only,
        "user_can_see_identity": access.can_see_identity(user),
    }
