"""Bulk lab import from CSV: one path for the web UI, the API and ``manage.py import_labs``.

Flow: ``clinical.services.lab_import_upload`` stores the file (``LabImport``) and returns
the preview made here, which reports every row's errors; ``lab_import_confirm`` re-validates
the stored file against the current database and imports all rows in one transaction, or
none. This module only reads: parsing, checking and previewing a file.

Format (what lab systems export): one header row, then one result per row. Columns
(case-insensitive, in any order): ``registry_code`` and/or ``mrn`` (either identifies the
patient), ``analyte`` (catalogue code or LOINC), ``value``, ``unit``, ``collected_on``
(YYYY-MM-DD), optional ``fasting`` (yes/no). UTF-8 with or without BOM (Latin-1 accepted
with a warning), ``,`` or ``;`` as delimiter, RFC 4180 quoting (strict).

Row validation is ``clinical.services.lab_validate``, the same as forms and the API.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from django.core.exceptions import ValidationError  # noqa: F401 (callers catch imports.ValidationError)
from django.utils import timezone

from clinical import catalogue
from clinical.dates import human_date
from clinical.import_rows import CheckedLab, RowChecker
from clinical.models import LabImport, LabResult
from registry import access, normalize
from registry.writekit import actor

TEMPLATE_HEADER = ["registry_code", "mrn", "analyte", "value", "unit", "collected_on", "fasting"]
# The example rows name no patient (codes and MRNs of the form EXAMPLE-...): a template
# uploaded unchanged is refused row by row instead of writing into a real chart.
EXAMPLE_PREFIX = "EXAMPLE-"
TEMPLATE_CSV = (
    ",".join(TEMPLATE_HEADER)
    + "\r\n"
    + "EXAMPLE-000001,,triglycerides,5.2,mmol/L,2024-03-01,yes\r\n"
    + ",EXAMPLE-MRN-1,2571-8,460,mg/dL,2024-03-01,yes\r\n"
    + "EXAMPLE-000001,,hba1c,7.4,%,2024-03-01,\r\n"
)

# Accepted header spellings -> the column's meaning.
HEADER_ALIASES = {
    "registry_code": "registry_code",
    "patient": "registry_code",
    "patient_code": "registry_code",
    "mrn": "mrn",
    "analyte": "analyte",
    "analyte_code": "analyte",
    "loinc": "analyte",
    "test": "analyte",
    "value": "value",
    "result": "value",
    "unit": "unit",
    "units": "unit",
    "collected_on": "collected_on",
    "collection_date": "collected_on",
    "collected": "collected_on",
    "date": "collected_on",
    "fasting": "fasting",
}
REQUIRED = ("analyte", "value", "unit", "collected_on")
# The meanings a row is read by, in this order (a missing column reads as "").
MEANINGS = ("registry_code", "mrn", "analyte", "value", "unit", "collected_on", "fasting")
CHUNK = 5000


@dataclass(slots=True)
class RowReport:
    line: int
    patient: str = ""
    analyte: str = ""
    value: str = ""
    unit: str = ""
    collected_on: str = ""
    fasting: str = ""
    errors: list[str] = field(default_factory=list)
    patient_id: int | None = None  # once resolved (for the identity hint of the preview)
    skipped: str = ""  # why the row is left out (identical to a stored result)
    # A unit-suspect value (RULES.md 5): imported only after one confirmation for the file.
    unit_suspect: str = ""

    @property
    def status(self) -> str:
        return "error" if self.errors else "skipped" if self.skipped else "ok"


class NewLab(NamedTuple):
    """One valid row, ready to insert (plain values: building model instances for
    100,000 rows at preview time would cost seconds for nothing)."""

    patient_id: int
    analyte: str
    value: Decimal
    unit: str
    canonical_value: Decimal
    collected_on: dt.date
    fasting: bool | None
    created_by_id: int | None


@dataclass
class ImportPlan:
    """The outcome of reading a file: a report per row and the results to write."""

    encoding: str = ""
    delimiter: str = ","
    warnings: list[str] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    rows: list[RowReport] = field(default_factory=list)
    labs: list[NewLab] = field(default_factory=list)
    # Every row, when every row read and checked cleanly (what clinical.import_plans keeps).
    parsed: list[ParsedRow] | None = field(default=None, repr=False)

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def error_count(self) -> int:
        return sum(1 for r in self.rows if r.errors) + len(self.file_errors)

    @property
    def skipped_count(self) -> int:
        return sum(1 for r in self.rows if r.skipped and not r.errors)

    @property
    def unit_suspect_count(self) -> int:
        return sum(1 for r in self.rows if r.unit_suspect and not r.errors and not r.skipped)

    @property
    def ok(self) -> bool:
        return not self.file_errors and self.error_count == 0 and bool(self.labs)

    def report_rows(self, limit_ok: int = 200) -> list[RowReport]:
        """Every row with an error or a unit-suspect mark, then up to ``limit_ok`` other
        valid rows, in file order."""
        errors = [r for r in self.rows if r.errors or r.unit_suspect]
        oks = [r for r in self.rows if not r.errors and not r.unit_suspect][:limit_ok]
        return sorted(errors + oks, key=lambda r: r.line)


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def decode(content: bytes) -> tuple[str, str, list[str]]:
    """Text, encoding name and warnings. UTF-8 (BOM optional), else Latin-1."""
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8"
    try:
        return content.decode("utf-8"), encoding, []
    except UnicodeDecodeError:
        return (
            content.decode("latin-1"),
            "latin-1",
            ["The file is not valid UTF-8; it was read as Latin-1 (ISO-8859-1). Check accented names and units."],
        )


def sniff_delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    return ";" if first.count(";") > first.count(",") else ","


def _header_key(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower().replace(" ", "_").replace("-", "_")


def _unknown_patient(key: str) -> str:
    if key.upper().startswith(EXAMPLE_PREFIX):
        return f"{key!r} is an example row from the template: replace it with a real patient's registry code or MRN."
    # One message for "does not exist" and "not yours": the import must not reveal
    # which registry codes or MRNs exist at other sites.
    return f"Unknown patient {key!r}, or not a patient of a site where you may enter data."


class ParsedRow(NamedTuple):
    """A row whose cells read and checked cleanly, before its patient is looked up."""

    report: RowReport
    code: str
    mrn: str
    analyte: catalogue.Analyte
    validated: CheckedLab
    day: dt.date
    fasting: bool | None


def resolve_patients(user, codes: set[str], mrns: set[str]) -> tuple[dict[str, int], dict[str, list[int]]]:
    writable = access.patients_for_user(user, write=True)
    by_code: dict[str, int] = {}
    by_mrn: dict[str, list[int]] = {}
    code_list, mrn_list = sorted(codes), sorted(mrns)
    for i in range(0, len(code_list), CHUNK):
        for pk, code in writable.filter(registry_code__in=code_list[i : i + CHUNK]).values_list("id", "registry_code"):
            by_code[code] = pk
    # MRNs compare on their normalised, case-folded key, like the uniqueness rule.
    key_list = sorted({normalize.mrn_key(m) for m in mrn_list})
    for i in range(0, len(key_list), CHUNK):
        rows = writable.filter(identity__mrn_key__in=key_list[i : i + CHUNK]).values_list("id", "identity__mrn_key")
        for pk, key in rows:
            by_mrn.setdefault(key, []).append(pk)
    return by_code, by_mrn


def existing_keys(patient_ids: set[int], first: dt.date, last: dt.date) -> set[tuple]:
    keys: set[tuple] = set()
    ids = sorted(patient_ids)
    for i in range(0, len(ids), CHUNK):
        rows = LabResult.objects.filter(
            patient_id__in=ids[i : i + CHUNK], collected_on__gte=first, collected_on__lte=last
        ).values_list("patient_id", "analyte", "collected_on", "canonical_value")
        keys.update((p, a, d, Decimal(c)) for p, a, d, c in rows.iterator(chunk_size=CHUNK))
    return keys


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a file's rows are built.

    The collector runs after every 700 new container objects and, as 100,000 row reports
    pile up, walks the survivors again and again: about half the time of reading a file.
    Rows and reports hold no reference cycles, so reference counting frees them anyway."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def lab_import_preview(
    *, user, content: bytes, today: dt.date | None = None, skip_existing: bool = False
) -> ImportPlan:
    with collector_paused():
        return _preview(user=user, content=content, today=today, skip_existing=skip_existing)


def _preview(*, user, content: bytes, today: dt.date | None, skip_existing: bool) -> ImportPlan:
    """Read and validate a whole file (writes nothing). Every row gets a report.

    ``skip_existing``: a row identical to a stored result (same patient, analyte, day and
    value) is reported as skipped instead of blocking the file as a duplicate."""
    plan = ImportPlan()
    text, plan.encoding, plan.warnings = decode(content)
    if "\x00" in text:
        plan.file_errors.append("The file contains NUL bytes: it is not a text CSV file (export it as CSV).")
        return plan
    plan.delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=plan.delimiter, quotechar='"', strict=True)
    today = today or user_today(user)
    checker = RowChecker(today)
    pending: list[ParsedRow] = []
    columns: dict[str, int] | None = None
    try:
        for raw in reader:
            line = reader.line_num
            if not "".join(raw).strip():  # a blank line, or only empty cells
                continue
            if columns is None:
                columns = _read_header(raw, plan)
                if columns is None:
                    return plan
                width = len(raw)
                # a missing column reads from one cell past the row's end, made ""
                pick = operator.itemgetter(*(width if i is None else i for i in (columns.get(m) for m in MEANINGS)))
                continue
            if len(raw) != width:
                plan.rows.append(RowReport(line=line, errors=[f"Expected {width} columns, found {len(raw)}."]))
                continue
            raw.append("")
            report, item = _read_row(line, pick(raw), checker)
            plan.rows.append(report)
            if item is not None:
                pending.append(item)
    except csv.Error as exc:
        plan.rows.append(
            RowReport(line=reader.line_num, errors=[f"Malformed CSV ({exc}); the rest of the file was not read."])
        )
    if columns is None:
        plan.file_errors.append("The file is empty: it needs a header row and at least one result.")
        return plan
    if not plan.rows:
        plan.file_errors.append("The file has a header but no results.")
        return plan
    if len(pending) == len(plan.rows):
        plan.parsed = pending
    attach_patients(user, pending, plan, skip_existing=skip_existing)
    return plan


def user_today(user) -> dt.date:
    """ "Today" is the site's date (RULES.md 5); the rows' patients are not resolved yet, so
    a date is in the future only when it is after today at every one of the user's sites."""
    return max((site.today() for site in access.sites_for_user(user)), default=timezone.localdate())


def _read_header(raw: list[str], plan: ImportPlan) -> dict[str, int] | None:
    columns: dict[str, int] = {}
    for i, name in enumerate(raw):
        meaning = HEADER_ALIASES.get(_header_key(name))
        if meaning is None:
            plan.file_errors.append(
                f"Unknown column {name.strip()[:60]!r}; expected: {', '.join(TEMPLATE_HEADER)} (see the template)."
            )
            continue
        if meaning in columns:
            plan.file_errors.append(f"Column {meaning!r} appears twice in the header.")
            continue
        columns[meaning] = i
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        plan.file_errors.append(f"Missing column(s): {', '.join(missing)}.")
    if "registry_code" not in columns and "mrn" not in columns:
        plan.file_errors.append("Missing column: registry_code or mrn (to identify the patient).")
    return None if plan.file_errors else columns


def _read_row(line: int, cells: tuple[str, ...], checker: RowChecker) -> tuple[RowReport, ParsedRow | None]:
    code, mrn, analyte, value, unit, collected_on, fasting_cell = cells
    code, mrn, analyte, value = code.strip(), mrn.strip(), analyte.strip(), value.strip()
    unit, collected_on, fasting_cell = unit.strip(), collected_on.strip(), fasting_cell.strip()
    report = RowReport(
        line, (code or mrn)[:60], analyte[:60], value[:60], unit[:30], collected_on[:30], fasting_cell[:20]
    )
    errors = report.errors
    code_errors, code = checker.identifier(code, "registry code")
    mrn_errors, mrn = checker.identifier(mrn, "MRN")
    if code_errors or mrn_errors:
        errors.extend(code_errors)
        errors.extend(mrn_errors)
    if not code and not mrn:
        errors.append("Give the patient's registry code or MRN.")
    info = checker.analyte(analyte)
    if info is None:
        errors.append(f"Unknown analyte {report.analyte!r} (use a catalogue code or a LOINC code).")
    day = checker.day(collected_on)
    if day is None:
        errors.append(f"Collection date {report.collected_on!r} is not a date (use YYYY-MM-DD).")
    fasting, fasting_ok = checker.fasting(fasting_cell)
    if not fasting_ok:
        errors.append(f"Fasting {report.fasting!r} is not yes or no.")
    elif analyte in catalogue.FASTING_LOINC:
        if fasting is False:
            errors.append(f"LOINC {analyte} is a fasting result, but fasting says no.")
        fasting = True
    checked = None
    if info is not None:
        result = checker.lab(info, value, unit, day)
        if isinstance(result, CheckedLab):
            checked = result
            report.unit_suspect = result.unit_suspect
        else:
            for name, messages in result.items():
                if name == "collected_on" and day is None:
                    continue
                errors.extend(messages)
    if errors:
        return report, None
    assert info is not None and day is not None and checked is not None
    return report, ParsedRow(report, code, mrn, info, checked, day, fasting)


def attach_patients(user, pending: list[ParsedRow], plan: ImportPlan, *, skip_existing: bool = False) -> None:
    if not pending:
        return
    mrns = {p.mrn for p in pending if p.mrn}
    by_code, by_mrn = resolve_patients(user, {p.code for p in pending if p.code}, mrns)
    key_of = {mrn: normalize.mrn_key(mrn) for mrn in mrns}
    # Stored results of every patient the file may name, over the file's days (one pass
    # over the rows below then settles patient, duplicates and skips together).
    candidates = set(by_code.values()).union(*by_mrn.values())
    existing = (
        existing_keys(candidates, min(p.day for p in pending), max(p.day for p in pending)) if candidates else set()
    )
    seen: dict[tuple, int] = {}
    uid = getattr(actor(user), "pk", None)
    labs = plan.labs
    for item in pending:
        report = item.report
        if item.code:
            pk = by_code.get(item.code)
            if pk is None:
                report.errors.append(_unknown_patient(item.code))
                continue
            if item.mrn and pk not in by_mrn.get(key_of[item.mrn], ()):
                report.errors.append(f"Registry code {item.code} and MRN {item.mrn!r} are not the same patient.")
                continue
        else:
            pks = by_mrn.get(key_of[item.mrn], ())
            if not pks:
                report.errors.append(_unknown_patient(item.mrn))
                continue
            if len(pks) > 1:
                report.errors.append(
                    f"MRN {item.mrn!r} matches patients at several sites; use the registry code instead."
                )
                continue
            pk = pks[0]
        report.patient_id = pk
        v = item.validated
        key = (pk, item.analyte.code, item.day, v.canonical)
        if existing and key in existing:
            if skip_existing:
                report.skipped = "Identical to a stored result: skipped."
                continue
            report.errors.append(
                f"Duplicate: {item.analyte.name} {report.value} {v.unit} on {human_date(item.day)} "
                "is already recorded for this patient (tick “skip rows identical to stored results” to leave it out)."
            )
            continue
        first = seen.setdefault(key, report.line)
        if first != report.line:
            report.errors.append(f"Duplicate of line {first} in this file.")
            continue
        labs.append(NewLab(pk, item.analyte.code, v.value, v.unit, v.canonical, item.day, item.fasting, uid))


# --------------------------------------------------------------------------------------
# A stored upload, read again
# --------------------------------------------------------------------------------------


def lab_import_plan(lab_import: LabImport, *, user, skip_existing: bool = False) -> ImportPlan:
    """The preview of a stored upload, against the database as it is now: from the rows
    kept at upload where they may be used (``clinical.import_plans``), else read again."""
    record = LabImport.objects.only("pk", "plan", "sha256").get(pk=lab_import.pk)
    return plan_of(record, user=user, skip_existing=skip_existing)


def plan_of(record: LabImport, *, user, skip_existing: bool = False) -> ImportPlan:
    """``record``'s preview from its kept rows, or from its file (loaded only then)."""
    from clinical import import_plans  # it builds on this module

    plan = import_plans.restore(bytes(record.plan or b""), sha256=record.sha256, user=user, skip_existing=skip_existing)
    if plan is not None:
        return plan
    return lab_import_preview(user=user, content=bytes(record.content or b""), skip_existing=skip_existing)


def analyte_table() -> list[dict]:
    """Every analyte a file may name, from the catalogue: code, name, LOINC aliases and
    accepted units (for the import page; never a hand-kept list)."""
    return [
        {"code": a.code, "name": a.name, "loinc": (*a.loinc, *a.loinc_si), "units": a.accepted_units}
        for a in catalogue.ANALYTES.values()
    ]
