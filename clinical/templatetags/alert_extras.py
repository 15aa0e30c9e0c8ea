"""Template helpers for the alert lifecycle screens: the historic mark."""

from __future__ import annotations

from django import template

from clinical.historic import alert_is_historic

register = template.Library()


@register.filter
def historic(alert) -> bool:
    return alert_is_historic(alert)
