"""Historic alerts (pure: no database): raised on evidence more than
``catalogue.HISTORIC_EVIDENCE_DAYS`` older than the day the alert was raised, as when a
clinician back-enters a 2018 result today."""

from __future__ import annotations

import datetime as dt

from clinical import catalogue


def is_historic(observed_on: dt.date | None, raised_on: dt.date) -> bool:
    return observed_on is not None and (raised_on - observed_on).days > catalogue.HISTORIC_EVIDENCE_DAYS


def alert_is_historic(alert) -> bool:
    """For an Alert row (its ``observed_on`` and the local date of ``created_at``)."""
    from django.utils import timezone

    return is_historic(alert.observed_on, timezone.localdate(alert.created_at))
