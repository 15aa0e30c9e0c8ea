"""The API's lab list body built from plain rows: what ``LabResultSerializer`` returns for
each result, without DRF's per-field machinery.

The serializer stays the declared shape (OpenAPI, the detail and create answers); this is
its read path for lists, where 50 rows times 18 fields through DRF fields cost more than
the rest of the request. Keys, order and values are the serializer's own: the body is
the same byte for byte (tests/clinical/test_api_lab_rows.py compares the two).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.utils import timezone

from clinical import catalogue, flags, formatting


def _number(value) -> float | None:
    return None if value is None else float(value)


def _datetime(value: dt.datetime | None, tz, utc: bool) -> str | None:
    # DRF's DateTimeField: aware values in the current time zone, ISO 8601, UTC as "Z".
    # PostgreSQL's values come in UTC: when the current zone is UTC too, nothing to convert.
    if not value:
        return None
    if tz is not None and not (utc and value.tzinfo is dt.UTC) and timezone.is_aware(value):
        value = value.astimezone(tz)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def lab_row(row: Mapping[str, Any], *, sex: str, units: str | None, tz=None, utc: bool = False) -> dict[str, Any]:
    """One result (a row of ``clinical.selectors.LAB_ROW_FIELDS``) as the API shows it;
    ``sex`` is the patient's (for the flag)."""
    analyte = row["analyte"]
    canonical = row["canonical_value"]
    visit = row["visit__public_id"]
    fasting = row["fasting"]
    out = {
        "id": str(row["public_id"]),
        "analyte": analyte,
        "value": _number(row["value"]),
        "unit": row["unit"],
        "canonical_value": _number(canonical),
        "canonical_unit": catalogue.ANALYTES[analyte].canonical_unit,
        "flag": flags.lab_flag(
            analyte=analyte,
            canonical=canonical,
            sex=sex,
            fasting=fasting,
            unit=row["unit"],
            reference_low=row["reference_low"],
            reference_high=row["reference_high"],
        ),
        "collected_on": row["collected_on"].isoformat(),
        "fasting": None if fasting is None else bool(fasting),
        "reference_low": _number(row["reference_low"]),
        "reference_high": _number(row["reference_high"]),
        "visit": None if visit is None else str(visit),
        "source": row["source"],
        "version": int(row["version"]),
        "created_at": _datetime(row["created_at"], tz, utc),
        "updated_at": _datetime(row["updated_at"], tz, utc),
    }
    if units:
        out["display_value"], out["display_unit"] = formatting.to_display(canonical, analyte=analyte, system=units)
    return out


def lab_rows(rows: Iterable[Mapping[str, Any]], *, sex: str, units: str | None) -> list[dict[str, Any]]:
    """Every row of a page, in order."""
    tz = timezone.get_current_timezone() if settings.USE_TZ else None
    utc = tz is dt.UTC or getattr(tz, "key", None) in ("UTC", "Etc/UTC")
    return [lab_row(row, sex=sex, units=units, tz=tz, utc=utc) for row in rows]
