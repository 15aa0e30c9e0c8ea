"""FHIR R4B NDJSON: one file per resource type (Patient, Condition, Observation,
MedicationStatement, Encounter). Every resource is validated by its
``fhir.resources.R4B`` model before it is written; an invalid resource stops the export.

Dates are the shifted dates; with relative dates, FHIR's date elements stay empty and
the days since the anchor travel in an extension (FHIR has no relative-date type).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from clinical import catalogue
from registry.exports.cohort import Cohort
from registry.exports.readers import Reader
from registry.exports.sinks import Sink
from registry.exports.tables import RELATIVE, TABLES_BY_NAME

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PSEUDONYM_SYSTEM = "urn:ld-registry:research-pseudonym:"
RELATIVE_DAYS_URL = "urn:ld-registry:fhir:days-since-anchor"
SYSTEMS = {
    "ORPHA": "http://www.orpha.net",
    "OMIM": "https://omim.org",
    "MONDO": "http://purl.obolibrary.org/obo/mondo.owl",
    "ICD10": "http://hl7.org/fhir/sid/icd-10",
    "NCIT": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",
    "RxCUI": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "CHEBI": "http://purl.obolibrary.org/obo/chebi.owl",
}
GENDER = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}
DOSE_UCUM = {"mg/day": "mg/d", "U/day": "[U]/d", "g/day": "g/d", "mg/week": "mg/wk", "ug/day": "ug/d"}
# Vital signs recorded at visits, as Observations (LOINC, UCUM).
VITALS = (
    ("weight_kg", "29463-7", "Body weight", "kg"),
    ("height_cm", "8302-2", "Body height", "cm"),
    ("bmi", "39156-5", "Body mass index (BMI) [Ratio]", "kg/m2"),
    ("waist_cm", "8280-0", "Waist Circumference at umbilicus by Tape measure", "cm"),
)
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_PARTS = (
    ("systolic_bp", "8480-6", "Systolic blood pressure"),
    ("diastolic_bp", "8462-4", "Diastolic blood pressure"),
)
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _models():
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.encounter import Encounter
    from fhir.resources.R4B.medicationstatement import MedicationStatement
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.patient import Patient

    return {
        "Patient": Patient,
        "Condition": Condition,
        "Observation": Observation,
        "MedicationStatement": MedicationStatement,
        "Encounter": Encounter,
    }


class _When:
    """Date elements as shifted dates, or as a days-since-anchor extension."""

    def __init__(self, dates: str):
        self.relative = dates == RELATIVE

    def put(self, resource: dict, element: str, value) -> None:
        if value is None:
            return
        if self.relative:
            resource.setdefault("extension", []).append(
                {"url": f"{RELATIVE_DAYS_URL}:{element}", "valueInteger": int(value)}
            )
        else:
            resource[element] = value.isoformat() if isinstance(value, dt.date) else value

    def period(self, resource: dict, element: str, start, end) -> None:
        if self.relative:
            self.put(resource, f"{element}.start", start)
            self.put(resource, f"{element}.end", end)
            return
        period = {k: v.isoformat() for k, v in (("start", start), ("end", end)) if v is not None}
        if period:
            resource[element] = period


def _ref(kind: str, rid: str) -> dict:
    return {"reference": f"{kind}/{rid}"}


def _quantity(value: float, unit: str, ucum: str | None) -> dict:
    q = {"value": value, "unit": unit, "system": UCUM}
    if ucum:
        q["code"] = ucum
    return q


class _Writer:
    """One NDJSON file at a time (a zip takes one open entry at a time)."""

    def __init__(self, sink: Sink, progress):
        self.sink = sink
        self.models = _models()
        self.counts = dict.fromkeys(self.models, 0)
        self.progress = progress
        self.kind = ""
        self.fh = None

    def begin(self, kind: str) -> None:
        self.close()
        self.kind = kind
        self.fh = self.sink.open(f"{kind}.ndjson")

    def emit(self, resource: dict) -> None:
        kind = resource["resourceType"]
        assert kind == self.kind, f"{kind} written while {self.kind}.ndjson is open"
        model = self.models[kind].model_validate(resource)  # raises on an invalid resource
        self.fh.write(model.model_dump_json(exclude_none=True).encode() + b"\n")
        self.counts[kind] += 1

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def _patients(w: _Writer, cohort: Cohort, project: str) -> None:
    for p in cohort.patients:
        r = {
            "resourceType": "Patient",
            "id": p.pid,
            "identifier": [{"system": PSEUDONYM_SYSTEM + project, "value": p.pid}],
            "gender": GENDER.get(p.sex, "unknown"),
        }
        if p.birth_year is not None:
            r["birthDate"] = str(p.birth_year)  # a FHIR date may be a year alone
        if p.vital_status == "deceased":
            r["deceasedBoolean"] = True
        w.emit(r)
        w.progress.add(1)


def _conditions(w: _Writer, reader: Reader, when: _When) -> None:
    seq: dict[str, int] = {}
    for pid, subtype, _group, basis, orpha, omim, mondo, icd10, onset, diagnosed in reader.rows(
        TABLES_BY_NAME["diagnoses"]
    ):
        seq[pid] = seq.get(pid, 0) + 1
        info = catalogue.SUBTYPES.get(subtype)
        codings = []
        for system, code in (("ORPHA", orpha), ("OMIM", omim), ("MONDO", mondo), ("ICD10", icd10)):
            if code:
                codings.append({"system": SYSTEMS[system], "code": f"ORPHA:{code}" if system == "ORPHA" else code})
        r = {
            "resourceType": "Condition",
            "id": f"{pid}-dx{seq[pid]}",
            "subject": _ref("Patient", pid),
            "code": {"coding": codings, "text": info.name if info else catalogue.SUBTYPE_GROUPS.get(subtype, subtype)},
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
        }
        if basis:
            r["evidence"] = [{"code": [{"text": f"basis: {basis}"}]}]
        when.put(r, "onsetDateTime", onset)
        when.put(r, "recordedDate", diagnosed)
        w.emit(r)
        w.progress.add(1)


def _visits(reader: Reader, when: _When) -> Iterator[tuple[dict, str, object]]:
    cols = [c.out_name(reader.dates) for c in TABLES_BY_NAME["visits"].columns]
    for row in reader.rows(TABLES_BY_NAME["visits"]):
        v = dict(zip(cols, row, strict=True))
        yield v, f"{v['patient_id']}-v{v['visit_number']}", v.get("visit_date_days" if when.relative else "visit_date")


def _encounters(w: _Writer, reader: Reader, when: _When) -> None:
    for v, eid, date in _visits(reader, when):
        enc = {
            "resourceType": "Encounter",
            "id": eid,
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "AMB",
                "display": "ambulatory",
            },
            "subject": _ref("Patient", v["patient_id"]),
        }
        when.period(enc, "period", date, date)
        w.emit(enc)
        w.progress.add(1)


def _vitals(w: _Writer, reader: Reader, when: _When) -> None:
    for v, eid, date in _visits(reader, when):
        pid = v["patient_id"]
        base = {"resourceType": "Observation", "status": "final", "subject": _ref("Patient", pid)}
        base["encounter"] = _ref("Encounter", eid)
        base["category"] = [{"coding": [{"system": CATEGORY, "code": "vital-signs"}]}]
        for field, loinc, display, unit in VITALS:
            if v[field] is not None:
                obs = {
                    **base,
                    "id": f"{eid}-{field.replace('_', '-')}",
                    "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}]},
                    "valueQuantity": _quantity(float(v[field]), unit, unit),
                }
                when.put(obs, "effectiveDateTime", date)
                w.emit(obs)
        if v["systolic_bp"] is not None and v["diastolic_bp"] is not None:
            obs = {
                **base,
                "id": f"{eid}-bp",
                "code": {"coding": [{"system": LOINC, "code": BP_PANEL[0], "display": BP_PANEL[1]}]},
                "component": [
                    {
                        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                        "valueQuantity": _quantity(float(v[field]), "mm[Hg]", "mm[Hg]"),
                    }
                    for field, code, display in BP_PARTS
                ],
            }
            when.put(obs, "effectiveDateTime", date)
            w.emit(obs)


def _labs(w: _Writer, reader: Reader, when: _When) -> None:
    seq: dict[str, int] = {}
    for (
        pid, visit_n, analyte, loinc, value, unit, ucum, _cv, _cu, collected, _fasting, low, high,
    ) in reader.rows(TABLES_BY_NAME["labs"]):  # fmt: skip
        seq[pid] = seq.get(pid, 0) + 1
        info = catalogue.ANALYTES.get(analyte)
        r = {
            "resourceType": "Observation",
            "id": f"{pid}-lab{seq[pid]}",
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": "laboratory"}]}],
            "code": {
                "coding": [{"system": LOINC, "code": loinc}] if loinc else [],
                "text": info.name if info else analyte,
            },
            "subject": _ref("Patient", pid),
            "valueQuantity": _quantity(value, unit, ucum),
        }
        if visit_n is not None:
            r["encounter"] = _ref("Encounter", f"{pid}-v{visit_n}")
        when.put(r, "effectiveDateTime", collected)
        if low is not None or high is not None:
            rng = {}
            if low is not None:
                rng["low"] = _quantity(low, unit, ucum)
            if high is not None:
                rng["high"] = _quantity(high, unit, ucum)
            r["referenceRange"] = [rng]
        w.emit(r)
        w.progress.add(1)


def _doses_by_course(reader: Reader) -> Iterator[tuple[tuple[str, int], list[tuple]]]:
    current, rows = None, []
    for pid, n, _drug, effective, dose, unit in reader.rows(TABLES_BY_NAME["dose_changes"]):
        if (pid, n) != current and rows:
            yield current, rows
            rows = []
        current = (pid, n)
        rows.append((effective, dose, unit))
    if rows:
        yield current, rows


def _statuses(end, stop_reason: str) -> str:
    if end is None:
        return "active"
    return "completed" if stop_reason in ("", "taper_completed") else "stopped"


def _medications(w: _Writer, reader: Reader, when: _When) -> None:
    doses = _doses_by_course(reader)
    pending = next(doses, None)
    for pid, n, drug, _cls, start, end, stop_reason, _tapered in reader.rows(TABLES_BY_NAME["treatments"]):
        info = catalogue.DRUGS.get(drug)
        codes = info.codes if info else {}
        codings = [
            {"system": SYSTEMS[s], "code": f"CHEBI:{c}" if s == "CHEBI" else c}
            for s, c in codes.items()
            if s in SYSTEMS
        ]
        r = {
            "resourceType": "MedicationStatement",
            "id": f"{pid}-med{n}",
            "status": _statuses(end, stop_reason or ""),
            "medicationCodeableConcept": {"coding": codings, "text": info.name if info else drug},
            "subject": _ref("Patient", pid),
        }
        if stop_reason:
            r["statusReason"] = [{"text": stop_reason}]
        when.period(r, "effectivePeriod", start, end)
        # Dose rows arrive ordered like the courses (pseudonym, course number): merge.
        while pending is not None and (pending[0][0], pending[0][1]) < (pid, n):
            pending = next(doses, None)
        if pending is not None and pending[0] == (pid, n):
            dosage = []
            for i, (effective, dose, unit) in enumerate(pending[1], start=1):
                d = {"sequence": i, "doseAndRate": [{"doseQuantity": _quantity(dose, unit, DOSE_UCUM.get(unit))}]}
                if not when.relative and effective is not None:
                    d["timing"] = {"repeat": {"boundsPeriod": {"start": effective.isoformat()}}}
                elif effective is not None:
                    d["extension"] = [{"url": f"{RELATIVE_DAYS_URL}:timing.start", "valueInteger": int(effective)}]
                dosage.append(d)
            r["dosage"] = dosage
            pending = next(doses, None)
        w.emit(r)
        w.progress.add(1)


def write_fhir(sink: Sink, reader: Reader, cohort: Cohort, progress, *, project: str) -> dict[str, int]:
    w = _Writer(sink, progress)
    when = _When(reader.dates)
    try:
        w.begin("Patient")
        _patients(w, cohort, project)
        w.begin("Condition")
        _conditions(w, reader, when)
        w.begin("Encounter")
        _encounters(w, reader, when)
        w.begin("Observation")
        _vitals(w, reader, when)
        _labs(w, reader, when)
        w.begin("MedicationStatement")
        _medications(w, reader, when)
    finally:
        w.close()
    return dict(w.counts)


def parse_ndjson(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
