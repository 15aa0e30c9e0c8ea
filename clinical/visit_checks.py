"""Double-checks of the visit form (pure: no database): values that are plausible but
more often a slip than a change, which the form asks the user to confirm."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from clinical import catalogue, formatting
from clinical.dates import human_date


def height_needs_confirmation(
    *,
    height_cm: Decimal | None,
    last: tuple[dt.date, Decimal] | None,
    birth_year: int | None,
    visit_date: dt.date | None,
) -> str:
    """A message asking to confirm an adult height that differs from the last recorded
    one by more than ``catalogue.HEIGHT_CONFIRM_CM``; "" when there is nothing to ask."""
    if height_cm is None or last is None or birth_year is None or visit_date is None:
        return ""
    if visit_date.year - birth_year < catalogue.ADULT_AGE_YEARS:
        return ""  # children grow
    last_on, last_cm = last
    if abs(Decimal(height_cm) - last_cm) <= catalogue.HEIGHT_CONFIRM_CM:
        return ""
    return (
        f"Height {formatting.plain(Decimal(height_cm))} cm differs by more than "
        f"{formatting.plain(catalogue.HEIGHT_CONFIRM_CM)} cm from the last recorded "
        f"{formatting.plain(last_cm)} cm ({human_date(last_on)}). Check it, then tick the confirmation to save."
    )
