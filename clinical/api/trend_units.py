"""``?units=`` for the trends API: display values beside the canonical ones, formatted
like the web pages (the same display formatter), as labs do."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from clinical import catalogue
from clinical.charts.common import delta_text, shown, unit_for


def _text(analyte: str, value: float | None, system: str) -> str | None:
    return None if value is None else shown(analyte, Decimal(str(value)), system)[1]


def add_display(entry: dict[str, Any], system: str) -> dict[str, Any]:
    """Add ``display_*`` fields in ``system`` to one analyte entry of the trends response."""
    analyte = entry["analyte"]
    if analyte not in catalogue.ANALYTES:
        return entry
    entry["display_unit"] = unit_for(analyte, system)
    for key in ("latest_value", "baseline_value", "nadir_value"):
        entry[f"display_{key}"] = _text(analyte, entry.get(key), system)
    slope = entry.get("slope_per_year")
    entry["display_slope_per_year"] = None if slope is None else delta_text(analyte, Decimal(str(slope)), system)
    for month in entry.get("months", []):
        month["display_value"] = _text(analyte, month.get("value"), system)
        change = month.get("change")
        month["display_change"] = None if change is None else delta_text(analyte, Decimal(str(change)), system)
    return entry
