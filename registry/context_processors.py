from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from clinical import catalogue
from registry import access


def registry_context(request):
    """Header data: the user's sites, role flags, units, and the open critical alerts of
    the user's sites (counted lazily: only pages that show the header run the query)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    scope = access.scope_for(user)

    def critical_count() -> int:
        from clinical.selectors import open_critical_alert_count

        return open_critical_alert_count(user=user)

    def alert_counts() -> dict[str, int]:
        from clinical.selectors.alert_groups import header_alert_counts

        n, critical = header_alert_counts(user=user)
        return {"open": n, "critical": critical}

    return {
        "user_sites": access.sites_for_user(user),
        "user_is_researcher_only": scope.is_researcher_only,
        "user_can_see_identity": access.can_see_identity(user),
        "user_can_write": access.can_write(user),
        # a session still waiting for its second factor sees no count of patient data
        "user_critical_alerts": 0
        if getattr(request, "two_factor_pending", False)
        else SimpleLazyObject(critical_count),
        # Open alerts (historic ones left out) and how many are critical: one query, only
        # for roles that may open the worklist (researchers see no alert link).
        "user_can_see_alerts": not scope.is_researcher_only,
        "user_alert_counts": {"open": 0, "critical": 0}
        if getattr(request, "two_factor_pending", False)
        else SimpleLazyObject(alert_counts),
        "unit_systems": [
            (catalogue.CONVENTIONAL, "Conventional"),
            (catalogue.SI, "SI"),
        ],
    }
