"""De-identification as pure functions (no database, no settings).

- pseudonym: keyed HMAC-SHA256 of the patient UUID with a per-project key; the key never
  sits in the database, so the registry alone cannot link a pseudonym back to a patient,
  and two projects get unlinkable pseudonyms for the same patient;
- date shift: a per-patient offset of 0-364 days derived from a second HMAC (a separate
  message domain, so the offset cannot be read off the pseudonym); every date of one
  patient moves by the same amount, intervals are kept;
- relative days: days since the patient's anchor (diagnosis), the alternative to shifting;
- birth: year only; ages of 90 or over become "90+" and lose the year (HIPAA Safe Harbor);
- formula cells: text starting with = + - @ tab or CR gets a leading apostrophe.

Small-cell handling of the quasi-identifiers lives in ``smallcell``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import uuid

PSEUDONYM_PREFIX = "P"
PSEUDONYM_HEX = 20  # 80 bits: collision-free in practice for any registry size
SHIFT_RANGE_DAYS = 365  # offsets 0..364
AGE_TOP_CODE = 90  # ages >= this are aggregated into "90+" (45 CFR 164.514(b)(2)(i)(C))
AGE_TOP_LABEL = "90+"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PROJECT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _as_bytes(patient_uuid: uuid.UUID | str) -> bytes:
    return uuid.UUID(str(patient_uuid)).bytes


def pseudonym(key: bytes, patient_uuid: uuid.UUID | str) -> str:
    """The patient's pseudonym in the project whose key is ``key``."""
    digest = hmac.new(key, b"pseudonym:" + _as_bytes(patient_uuid), hashlib.sha256).hexdigest()
    return f"{PSEUDONYM_PREFIX}{digest[:PSEUDONYM_HEX]}"


def date_shift_days(key: bytes, patient_uuid: uuid.UUID | str) -> int:
    """The patient's date offset in days, 0..364, stable within the project."""
    digest = hmac.new(key, b"date-shift:" + _as_bytes(patient_uuid), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % SHIFT_RANGE_DAYS


def shift_date(day: dt.date | None, shift_days: int) -> dt.date | None:
    """Move a date back by the patient's offset (back, so no shifted date lies in the future)."""
    return None if day is None else day - dt.timedelta(days=shift_days)


def relative_days(day: dt.date | None, anchor: dt.date | None) -> int | None:
    """Days from the patient's anchor to ``day`` (negative before the anchor)."""
    if day is None or anchor is None:
        return None
    return (day - anchor).days


def age_in_years(birth_year: int | None, on: dt.date) -> int | None:
    """Age in completed years at most (year-only birth: the age reached during ``on``'s year)."""
    return None if birth_year is None else on.year - birth_year


def is_top_coded(birth_year: int | None, on: dt.date) -> bool:
    age = age_in_years(birth_year, on)
    return age is not None and age >= AGE_TOP_CODE


def export_birth_year(birth_year: int | None, on: dt.date) -> int | None:
    """Birth year as exported: dropped for patients aged 90 or over."""
    return None if birth_year is None or is_top_coded(birth_year, on) else birth_year


def export_age(birth_year: int | None, on: dt.date) -> str | None:
    """Age at export as text: the number of years, or "90+"."""
    age = age_in_years(birth_year, on)
    if age is None:
        return None
    return AGE_TOP_LABEL if age >= AGE_TOP_CODE else str(age)


def birth_decade(birth_year: int | None, on: dt.date) -> str:
    """The quasi-identifier used by the small-cell check: "1980s", "90+" or "unknown"."""
    if birth_year is None:
        return "unknown"
    if is_top_coded(birth_year, on):
        return AGE_TOP_LABEL
    return f"{birth_year // 10 * 10}s"


def neutralise_cell(value):
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe.

    Only strings are touched: numbers stay numbers (the registry stores no negative
    values, and a numeric cell is never evaluated as a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def check_project_name(name: str) -> str:
    """Project names become file names and environment variable names: keep them plain."""
    if not PROJECT_NAME_RE.fullmatch(name or ""):
        raise ValueError("Project names use lower-case letters, digits, '-' or '_' (at most 63 characters).")
    return name
