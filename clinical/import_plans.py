"""The rows of a previewed lab file as read and checked at upload, kept with the upload
(``LabImport.plan``) so that showing the preview again and confirming do not read and
check the file again.

Kept is what the file alone decides: each row's report text and its checked value
(analyte, value, unit, canonical value, day, fasting, unit-slip question). Decided
again each time, against the database as it is then (``imports.attach_patients``): the
patient (still there, still writable by this user), duplicates of stored results and
skips. The kept rows stand for a fresh reading only when

- every row of the file read and checked cleanly (a file with a row error is read
  again, so its report is complete and current),
- the code that reads and checks rows is the same (:func:`fingerprint` over those
  modules' source; a deployment between preview and confirm reads the file again),
- the upload is the same file (its SHA-256), and
- no row's date is after the user's today (the only check of a cell that depends on
  when it runs: a date never becomes "in the future" later, but a user's sites may change).

Otherwise the file is read again. The kept rows hold the file's values: they are purged
with the file (confirm, discard, retention).

Kept rows are stored column by column. The usual file (patients named by registry code,
no row repeated, none already stored) is settled column by column; anything else goes
back to a parsed row per line and ``attach_patients``, which names each row's problem.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import zlib
from decimal import Decimal
from functools import lru_cache
from itertools import repeat
from operator import attrgetter
from pathlib import Path

from clinical import catalogue
from clinical.import_rows import CheckedLab
from clinical.imports import (
    ImportPlan,
    NewLab,
    ParsedRow,
    RowReport,
    attach_patients,
    collector_paused,
    existing_keys,
    resolve_patients,
    user_today,
)
from registry.writekit import actor

FORMAT = 1
# The modules whose code decides what a row's cells read as, and their messages.
DECIDERS = (
    "clinical.imports",
    "clinical.import_rows",
    "clinical.import_plans",
    "clinical.services.labs",
    "clinical.services.numbers",
    "clinical.catalogue",
    "clinical.unit_slips",
    "clinical.formatting",
    "clinical.dates",
    "registry.normalize",
    "registry.writekit",
)
# Kept per row, in this order: the report's text, then the checked values.
COLUMNS = (
    "line",
    "patient",
    "analyte_cell",
    "value_cell",
    "unit_cell",
    "date_cell",
    "fasting_cell",
    "code",
    "mrn",
    "analyte",
    "value",
    "unit",
    "canonical",
    "day",
    "fasting",
    "unit_suspect",
)
_FASTING = {"t": True, "f": False, "": None}
_FASTING_TEXT = {True: "t", False: "f", None: ""}


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """SHA-256 over the source of the modules that read and check rows ("" when it
    cannot be read: then nothing is kept)."""
    digest = hashlib.sha256(f"format {FORMAT}".encode())
    try:
        for name in DECIDERS:
            digest.update(Path(importlib.import_module(name).__file__ or "").read_bytes())
    except OSError:
        return ""
    return digest.hexdigest()


def dump(plan: ImportPlan, *, sha256: str) -> bytes:
    """The kept form of a fresh preview (b"" when it may not be kept)."""
    rows = plan.parsed
    key = fingerprint()
    if not rows or plan.file_errors or not key:
        return b""
    reports = list(map(attrgetter("report"), rows))
    checked = list(map(attrgetter("validated"), rows))
    iso = {day: day.isoformat() for day in set(map(attrgetter("day"), rows))}
    columns = {
        "line": list(map(attrgetter("line"), reports)),
        "patient": list(map(attrgetter("patient"), reports)),
        "analyte_cell": list(map(attrgetter("analyte"), reports)),
        "value_cell": list(map(attrgetter("value"), reports)),
        "unit_cell": list(map(attrgetter("unit"), reports)),
        "date_cell": list(map(attrgetter("collected_on"), reports)),
        "fasting_cell": list(map(attrgetter("fasting"), reports)),
        "code": list(map(attrgetter("code"), rows)),
        "mrn": list(map(attrgetter("mrn"), rows)),
        "analyte": [info.code for info in map(attrgetter("analyte"), rows)],
        "value": list(map(str, map(attrgetter("value"), checked))),
        "unit": list(map(attrgetter("unit"), checked)),
        "canonical": list(map(str, map(attrgetter("canonical"), checked))),
        "day": [iso[day] for day in map(attrgetter("day"), rows)],
        "fasting": [_FASTING_TEXT[f] for f in map(attrgetter("fasting"), rows)],
        "unit_suspect": list(map(attrgetter("unit_suspect"), checked)),
    }
    head = {
        "format": FORMAT,
        "fingerprint": key,
        "sha256": sha256,
        "encoding": plan.encoding,
        "delimiter": plan.delimiter,
        "warnings": plan.warnings,
        "max_day": max(iso).isoformat(),
        "columns": columns,
    }
    return zlib.compress(json.dumps(head, separators=(",", ":")).encode(), 1)


def restore(
    kept: bytes, *, sha256: str, user, skip_existing: bool = False, today: dt.date | None = None
) -> ImportPlan | None:
    """The preview the file would give now, from its kept rows; None when they may not
    stand for a fresh reading (see the module text): read the file then."""
    with collector_paused():
        return _restore(kept, sha256=sha256, user=user, skip_existing=skip_existing, today=today)


def _restore(kept: bytes, *, sha256: str, user, skip_existing: bool, today: dt.date | None) -> ImportPlan | None:
    if not kept:
        return None
    try:
        head = json.loads(zlib.decompress(kept))
    except (zlib.error, ValueError):
        return None
    if head.get("format") != FORMAT or head.get("sha256") != sha256 or head.get("fingerprint") != fingerprint():
        return None
    if dt.date.fromisoformat(head["max_day"]) > (today or user_today(user)):
        return None
    plan = ImportPlan(encoding=head["encoding"], delimiter=head["delimiter"], warnings=list(head["warnings"]))
    columns = head["columns"]
    if not _attach_clean(columns, plan, user=user):
        _attach_rows(columns, plan, user=user, skip_existing=skip_existing)
    return plan


def _attach_rows(c: dict[str, list], plan: ImportPlan, *, user, skip_existing: bool) -> None:
    """The kept rows back as parsed rows, then ``attach_patients`` as after a reading."""
    reports = plan.rows
    pending: list[ParsedRow] = []
    analytes = catalogue.ANALYTES
    days: dict[str, dt.date] = {}
    texts = zip(*(c[name] for name in COLUMNS[:7]), strict=True)  # line ... fasting_cell
    values = zip(*(c[name] for name in COLUMNS[7:]), strict=True)  # code ... unit_suspect
    for text, (code, mrn, analyte, value, unit, canonical, day, fasting, suspect) in zip(texts, values, strict=True):
        report = RowReport(*text, unit_suspect=suspect)
        reports.append(report)
        info = analytes[analyte]
        when = days.get(day)
        if when is None:
            when = days[day] = dt.date.fromisoformat(day)
        checked = CheckedLab(info, Decimal(value), unit, Decimal(canonical), suspect)
        pending.append(ParsedRow(report, code, mrn, info, checked, when, _FASTING[fasting]))
    attach_patients(user, pending, plan, skip_existing=skip_existing)


def _attach_clean(c: dict[str, list], plan: ImportPlan, *, user) -> bool:
    """The usual case, column by column: every row names its patient by registry code
    alone, every code is a patient the user may write, no row repeats another or a stored
    result. Then every row is imported, and this is what ``attach_patients`` would
    decide, without a parsed row per line; False (nothing done) otherwise."""
    codes = c["code"]
    if any(c["mrn"]) or not all(codes):
        return False
    by_code, _ = resolve_patients(user, set(codes), set())
    try:
        pks = [by_code[code] for code in codes]
    except KeyError:  # an unknown patient: the row-by-row path says which
        return False
    days = {text: dt.date.fromisoformat(text) for text in set(c["day"])}
    when = [days[text] for text in c["day"]]
    canonical = list(map(Decimal, c["canonical"]))
    keys = list(zip(pks, c["analyte"], when, canonical, strict=True))
    if len(set(keys)) != len(keys):  # a repeated row: the row-by-row path names it
        return False
    stored = existing_keys(set(pks), min(days.values()), max(days.values()))
    if stored and not stored.isdisjoint(keys):  # a duplicate or a skip: row by row
        return False
    uid = getattr(actor(user), "pk", None)
    plan.labs = list(
        map(
            NewLab,
            pks,
            c["analyte"],
            map(Decimal, c["value"]),
            c["unit"],
            canonical,
            when,
            map(_FASTING.__getitem__, c["fasting"]),
            repeat(uid),
        )
    )
    texts = zip(*(c[name] for name in COLUMNS[:7]), pks, c["unit_suspect"], strict=True)
    plan.rows = [RowReport(*text, [], pk, "", suspect) for *text, pk, suspect in texts]
    return True
