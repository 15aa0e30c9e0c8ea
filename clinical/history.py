"""A patient's audit trail as a clinician reads it: field labels instead of column names,
values in the reader's units through ``clinical.formatting``, records named as clinicians
name them ("Triglycerides result of 2 May 2024"), no model paths or internal ids.

Pure over rows already loaded by ``clinical.selectors.history``: no database here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.db import models

from clinical import catalogue, formatting
from clinical.alerts import RULES
from clinical.dates import human_date, human_datetime

EMPTY = "–"

# Bookkeeping a reader does not need: the row's own ids and versions, computed fields and
# the rule machinery of an alert. The author of a change is the "Who" column.
HIDDEN = {
    "id",
    "public_id",
    "patient_id",
    "version",
    "created_at",
    "updated_at",
    "created_by_id",
    "canonical_value",
    "severity_rank",
    "subject_key",
    "params",
    "message",
    "lab_result_id",
    "course_id",
    "dose_change_id",
    "visit_id",
}
# Foreign keys that name a person, and the label they read under.
USER_FIELDS = {
    "acknowledged_by_id": "Acknowledged by",
    "recorded_by_id": "Recorded by",
    "clinician_id": "Clinician",
}
SITE_FIELDS = {"site_id": "Site", "home_site_id": "Home site"}
# Labels that read better than the model's verbose names.
LABELS = {
    "collected_on": "Collected on",
    "fasting": "Fasting",
    "reference_low": "Lab reference, low",
    "reference_high": "Lab reference, high",
    "acknowledge_note": "Acknowledgement note",
    "acknowledged_at": "Acknowledged at",
    "resolved_at": "Resolved at",
    "observed_on": "Observed on",
    "effective_date": "From",
    "dose_unit": "Dose unit",
    "hgvs_p": "HGVS p.",
}
ACTION_WORDS = {
    "create": "Added",
    "import": "Imported",
    "update": "Changed",
    "delete": "Deleted",
    "view": "Viewed",
    "export": "Exported",
    "search": "Searched by name or MRN",
}


@dataclass(frozen=True)
class FieldChange:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class ImportedResults:
    """What a lab import's single audit event means on one patient's trail: the import's
    number and file, and the patient's results among those it names (still stored)."""

    number: int | None
    filename: str
    results: list[Any] = field(default_factory=list)


IMPORT_LABEL = "clinical.LabImport"


@dataclass
class HistoryRow:
    at: dt.datetime
    who: str
    action: str
    record: str
    record_type: str
    changes: list[FieldChange] = field(default_factory=list)
    reason: str = ""


def _model(label: str) -> type[models.Model] | None:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def _field(model: type[models.Model] | None, attname: str) -> models.Field | None:
    if model is None:
        return None
    for f in model._meta.concrete_fields:
        if f.attname == attname:
            return f
    return None


def _label(model: type[models.Model] | None, attname: str) -> str:
    if attname in LABELS:
        return LABELS[attname]
    f = _field(model, attname)
    name = str(f.verbose_name) if f is not None else attname.replace("_", " ")
    return name[:1].upper() + name[1:]


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def format_field(model: type[models.Model] | None, attname: str, value: Any) -> str:
    """One stored audit value as text: choice labels, yes/no, dates as "2 May 2024",
    numbers without padding."""
    f = _field(model, attname)
    if isinstance(f, models.BooleanField):
        if value is None:
            return "unknown"
        return "yes" if value else "no"
    if value is None or value == "":
        return EMPTY
    if f is not None and f.choices:
        return str(dict(f.flatchoices).get(value, value))
    if isinstance(f, models.DateTimeField):
        try:
            return human_datetime(dt.datetime.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if isinstance(f, models.DateField):
        return human_date(str(value))
    if isinstance(f, models.DecimalField):
        number = _decimal(value)
        return formatting.plain(number) if number is not None else str(value)
    return str(value)


class _Values:
    """A record's field values: the live row when it still exists, else the audit row's
    own snapshot (a deleted record is named from what was deleted)."""

    def __init__(self, record: Any, changes: Mapping[str, list[Any]]):
        self.record = record
        self.changes = changes

    def get(self, name: str, attname: str | None = None) -> Any:
        if self.record is not None:
            return getattr(self.record, name, None)
        pair = self.changes.get(attname or name)
        if not pair:
            return None
        return pair[1] if pair[1] not in (None, "") else pair[0]


def _analyte_name(code: Any) -> str:
    info = catalogue.ANALYTES.get(str(code)) if code else None
    return info.name if info else "Lab"


def _drug_name(code: Any) -> str:
    info = catalogue.DRUGS.get(str(code)) if code else None
    return info.name if info else "Treatment"


def _d(value: Any) -> str:
    return human_date(value.isoformat() if isinstance(value, dt.date) else value)


def _name_dose(v: _Values) -> str:
    course = v.record.course if v.record is not None else None
    drug = _drug_name(course.drug) if course is not None else "Treatment"
    return f"{drug} dose from {_d(v.get('effective_date'))}"


def _name_alert(v: _Values) -> str:
    rule = RULES.get(str(v.get("rule") or ""))
    title = rule.title if rule else "Alert"
    observed = v.get("observed_on")
    return f"Alert “{title}”" + (f" of {_d(observed)}" if observed else "")


def _name_skinfold(v: _Values) -> str:
    visit = v.record.visit if v.record is not None else None
    return f"Skinfold of the visit of {_d(visit.visit_date)}" if visit is not None else "Skinfold"


def _name_import(v: _Values) -> str:
    rec = v.record
    filename = rec.filename if rec is not None else v.get("filename")
    number = f" #{rec.number}" if rec is not None and rec.number is not None else ""
    count = len(rec.results) if rec is not None else 0
    results = f": {count} lab result{'' if count == 1 else 's'}" if rec is not None else ""
    return f"Lab import{number}" + (f" ({filename})" if filename else "") + results


def _import_changes(record: ImportedResults | None, system: str) -> list[FieldChange]:
    """One line per result the import wrote for this patient: its value in the reader's
    units, as reported where that differs, and fasting when known."""
    out = []
    for r in record.results if record is not None else []:
        shown = formatting.format_measure(r.canonical_value, analyte=r.analyte, system=system)
        reported = f"{formatting.plain(r.value)} {r.unit}"
        text = shown if shown == reported else f"{shown} (as reported {reported})"
        if r.fasting is not None:
            text += ", fasting" if r.fasting else ", not fasting"
        out.append(FieldChange(f"{_analyte_name(r.analyte)} result of {_d(r.collected_on)}", EMPTY, text))
    return out


NAMERS: dict[str, Callable[[_Values], str]] = {
    IMPORT_LABEL: _name_import,
    "clinical.LabResult": lambda v: f"{_analyte_name(v.get('analyte'))} result of {_d(v.get('collected_on'))}",
    "clinical.Visit": lambda v: f"Visit of {_d(v.get('visit_date'))}",
    "clinical.Skinfold": _name_skinfold,
    "clinical.TreatmentCourse": lambda v: f"{_drug_name(v.get('drug'))} course from {_d(v.get('start_date'))}",
    "clinical.DoseChange": _name_dose,
    "clinical.Alert": _name_alert,
    "registry.Patient": lambda v: "Patient record",
    "registry.PatientIdentity": lambda v: "Identity",
    "registry.Diagnosis": lambda v: (
        "Diagnosis " + str(getattr(catalogue.SUBTYPES.get(str(v.get("subtype") or "")), "name", v.get("subtype") or ""))
    ),
    "registry.GeneticFinding": lambda v: f"Genetic finding {v.get('gene') or ''} {v.get('hgvs_c') or ''}".strip(),
    "registry.PhenotypeObservation": lambda v: f"Phenotype finding {v.get('label') or v.get('hpo_id') or ''}".strip(),
    "registry.Consent": lambda v: f"Consent of {_d(v.get('consented_on'))}",
}


def record_name(label: str, record: Any, changes: Mapping[str, list[Any]]) -> str:
    namer = NAMERS.get(label)
    values = _Values(record, changes)
    if namer is not None:
        return namer(values)
    model = _model(label)
    return str(model._meta.verbose_name).capitalize() if model is not None else "Record"


def _lab_value_changes(changes: Mapping[str, list[Any]], analyte: str, system: str, unit_now: str) -> list[FieldChange]:
    """A lab value reads once, in the reader's units, with the value as reported beside it
    (the canonical column is how it is stored, not what anyone typed)."""
    out = []
    if "canonical_value" in changes and analyte in catalogue.ANALYTES:
        before, after = (
            formatting.format_measure(c, analyte=analyte, system=system) if _decimal(c) is not None else EMPTY
            for c in changes["canonical_value"]
        )
        out.append(FieldChange("Value", before, after))
    if "value" in changes or "unit" in changes:
        v = changes.get("value")
        u = changes.get("unit")

        def reported(i: int) -> str:
            value = v[i] if v else None
            unit = u[i] if u else unit_now
            if value is None:
                return EMPTY
            number = _decimal(value)
            return f"{formatting.plain(number) if number is not None else value} {unit or ''}".strip()

        if v is None and u is not None:
            out.append(FieldChange("Unit as reported", u[0] or EMPTY, u[1] or EMPTY))
        else:
            out.append(FieldChange("As reported", reported(0), reported(1)))
    return out


def field_changes(
    label: str,
    changes: Mapping[str, list[Any]],
    *,
    record: Any,
    system: str,
    users: Mapping[int, str],
    sites: Mapping[int, str],
) -> list[FieldChange]:
    if label == IMPORT_LABEL:
        return _import_changes(record, system)
    model = _model(label)
    out: list[FieldChange] = []
    if label == "clinical.LabResult":
        values = _Values(record, changes)
        analyte = str(values.get("analyte") or "")
        out.extend(_lab_value_changes(changes, analyte, system, str(values.get("unit") or "")))
        skip = {"value", "unit"}
    else:
        skip = set()
    for name, pair in changes.items():
        if name in HIDDEN or name in skip or not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        before, after = pair
        if name in USER_FIELDS:
            out.append(FieldChange(USER_FIELDS[name], users.get(before, EMPTY), users.get(after, EMPTY)))
        elif name in SITE_FIELDS:
            out.append(FieldChange(SITE_FIELDS[name], sites.get(before, EMPTY), sites.get(after, EMPTY)))
        elif name.endswith("_id"):
            continue  # another internal link: the record name says what it belongs to
        else:
            out.append(
                FieldChange(_label(model, name), format_field(model, name, before), format_field(model, name, after))
            )
    return out


def referenced_ids(events: list[Any]) -> tuple[set[int], set[int]]:
    """(user ids, site ids) that a page of events mentions in its changes."""
    users: set[int] = set()
    sites: set[int] = set()
    for ev in events:
        for name, pair in (ev.changes or {}).items():
            bucket = users if name in USER_FIELDS else sites if name in SITE_FIELDS else None
            if bucket is None or not isinstance(pair, list | tuple):
                continue
            bucket.update(int(x) for x in pair if isinstance(x, int | str) and str(x).isdigit())
    return users, sites


def history_rows(
    events: list[Any],
    *,
    records: Mapping[tuple[str, str], Any],
    users: Mapping[int, str],
    sites: Mapping[int, str],
    system: str,
    record_types: Mapping[str, tuple[str, tuple[str, ...]]],
) -> list[HistoryRow]:
    type_of = {label: name for name, (_, labels) in record_types.items() for label in labels}
    users = {int(k): v for k, v in users.items()}
    rows = []
    for ev in events:
        changes = ev.changes or {}
        record = records.get((ev.model, ev.object_id))
        # Stored ids in the trail are strings or ints; look them up as ints.
        norm = {
            k: [
                int(x) if isinstance(x, str) and x.isdigit() and (k in USER_FIELDS or k in SITE_FIELDS) else x
                for x in p
            ]
            if isinstance(p, list)
            else p
            for k, p in changes.items()
        }
        author = ev.user.get_full_name() or ev.user.username if ev.user is not None else "system"
        what = ACTION_WORDS.get(ev.action, ev.action)
        if ev.model == IMPORT_LABEL and ev.action == "create":
            what = ACTION_WORDS["import"]
        if ev.action == "view":
            what = "Viewed the summary" if ev.reason == "summary" else "Viewed the chart"
        rows.append(
            HistoryRow(
                at=ev.at,
                who=author,
                action=what,
                record=record_name(ev.model, record, norm),
                record_type=record_types.get(type_of.get(ev.model, ""), ("Other", ()))[0],
                changes=[]
                if ev.action not in ("create", "update", "delete")
                else field_changes(ev.model, norm, record=record, system=system, users=users, sites=sites),
                reason="" if ev.action == "view" else ev.reason,
            )
        )
    return rows
