"""Evaluation of one patient: trends and alerts from the stored record.

:func:`patient_evaluate` is the one entry point for the task, the sweep, the nightly
recompute and the ``recompute_trends`` command. It is idempotent: alerts are upserted per
(patient, rule, subject), snapshots and course responses are replaced in one transaction,
and the outbox flag is cleared only if no write flagged the patient again meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from clinical import alerts, catalogue, trends
from clinical.models import (
    Alert,
    AlertStatus,
    CourseResponse,
    DoseChange,
    LabResult,
    TreatmentCourse,
    TrendSnapshot,
    Visit,
)
from registry.models import Patient

# First key of the per-patient advisory lock (PostgreSQL), so that two evaluations of
# one patient never interleave while writers are never blocked by an evaluation.
EVALUATION_LOCK_NAMESPACE = 52_011


@dataclass(frozen=True)
class EvaluationResult:
    patient_id: int
    labs: int
    created: int
    updated: int
    reopened: int
    resolved: int
    flag_cleared: bool


def _lock_patient(patient_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [EVALUATION_LOCK_NAMESPACE, int(patient_id)])
    # SQLite serialises writers on the database file; the unique constraint and
    # ignore_conflicts below cover the rest.


def _canonical_uln(row: dict[str, Any]) -> Decimal | None:
    high = row["reference_high"]
    if high is None:
        return None
    conv = catalogue.ANALYTES[row["analyte"]].unit(row["unit"])
    return conv.to_canonical(high) if conv is not None else None


def load_record(patient: dict[str, Any], *, today: dt.date) -> tuple[alerts.PatientRecord, dict[str, dict[str, int]]]:
    """The patient's record as plain data (4 queries), and public id -> pk per evidence kind."""
    pid = patient["id"]
    labs = list(
        LabResult.objects.filter(patient_id=pid)
        .order_by("collected_on", "id")
        .values_list("id", "public_id", "analyte", "canonical_value", "collected_on", "reference_high", "unit")
    )
    courses = list(
        TreatmentCourse.objects.filter(patient_id=pid)
        .order_by("start_date", "id")
        .values_list("id", "public_id", "drug", "start_date", "end_date")
    )
    doses = list(
        DoseChange.objects.filter(course__patient_id=pid)
        .order_by("effective_date", "id")
        .values_list("id", "public_id", "course_id", "effective_date", "dose", "dose_unit")
    )
    weights = list(
        Visit.objects.filter(patient_id=pid, weight_kg__isnull=False)
        .order_by("visit_date", "id")
        .values_list("id", "public_id", "visit_date", "weight_kg")
    )
    ids: dict[str, dict[str, int]] = {"lab": {}, "course": {}, "dose": {}, "visit": {}}
    lab_rows = []
    for pk, public_id, analyte, canonical, on, ref_high, unit in labs:
        key = str(public_id)
        ids["lab"][key] = pk
        uln = _canonical_uln({"reference_high": ref_high, "analyte": analyte, "unit": unit})
        lab_rows.append(alerts.Lab(key, analyte, canonical, on, uln))
    by_course: dict[int, list[alerts.Dose]] = defaultdict(list)
    for pk, public_id, course_id, on, dose, unit in doses:
        ids["dose"][str(public_id)] = pk
        by_course[course_id].append(alerts.Dose(str(public_id), on, dose, unit))
    course_rows = []
    for pk, public_id, drug, start, end in courses:
        ids["course"][str(public_id)] = pk
        course_rows.append(alerts.Course(str(public_id), drug, start, end, tuple(by_course[pk])))
    weight_rows = []
    for pk, public_id, on, kg in weights:
        ids["visit"][str(public_id)] = pk
        weight_rows.append(alerts.Weight(str(public_id), on, kg))
    record = alerts.PatientRecord(
        sex=patient["sex"],
        subtype=patient["primary_subtype"],
        today=today,
        labs=tuple(lab_rows),
        courses=tuple(course_rows),
        weights=tuple(weight_rows),
    )
    return record, ids


_EVIDENCE_FIELD = {"lab": "lab_result_id", "course": "course_id", "dose": "dose_change_id", "visit": "visit_id"}


def _alert_fields(candidate: alerts.AlertCandidate, ids: dict[str, dict[str, int]]) -> dict[str, Any]:
    rule = alerts.RULES[candidate.rule]
    fields: dict[str, Any] = {
        "severity": rule.severity,
        "severity_rank": alerts.SEVERITY_RANK[rule.severity],
        "params": candidate.params,
        "message": alerts.render_alert_message(candidate.rule, candidate.params, catalogue.CONVENTIONAL),
    }
    evidence = candidate.evidence
    if evidence is not None:
        kind, key = evidence
        fields[_EVIDENCE_FIELD[kind]] = ids[kind].get(key)
    return fields


def _write_alerts(pid: int, candidates: list[alerts.AlertCandidate], ids, now) -> tuple[int, int, int, int]:
    existing = {(a.rule, a.subject_key): a for a in Alert.objects.filter(patient_id=pid)}
    to_create, to_update = [], []
    reopened = 0
    wanted = set()
    for c in candidates:
        wanted.add((c.rule, c.subject_key))
        fields = _alert_fields(c, ids)
        row = existing.get((c.rule, c.subject_key))
        if row is None:
            to_create.append(Alert(patient_id=pid, rule=c.rule, subject_key=c.subject_key, **fields))
            continue
        changed = any(getattr(row, k) != v for k, v in fields.items())
        if row.status == AlertStatus.RESOLVED and c.rule in alerts.STATE_RULES:
            # The condition holds again: the same row reopens (unique per subject).
            row.status, row.resolved_at = AlertStatus.OPEN, None
            row.acknowledged_at, row.acknowledged_by_id, row.acknowledge_note = None, None, ""
            reopened += 1
            changed = True
        if changed:
            for k, v in fields.items():
                setattr(row, k, v)
            row.updated_at = now
            to_update.append(row)
    resolved = []
    for key, row in existing.items():
        if key not in wanted and row.rule in alerts.STATE_RULES and row.status != AlertStatus.RESOLVED:
            row.status, row.resolved_at, row.updated_at = AlertStatus.RESOLVED, now, now
            resolved.append(row)
    if to_create:
        Alert.objects.bulk_create(to_create, ignore_conflicts=True)
    if to_update or resolved:
        Alert.objects.bulk_update(
            to_update + resolved,
            [
                "severity",
                "severity_rank",
                "params",
                "message",
                "lab_result_id",
                "course_id",
                "dose_change_id",
                "visit_id",
                "status",
                "resolved_at",
                "acknowledged_at",
                "acknowledged_by_id",
                "acknowledge_note",
                "updated_at",
            ],
        )
    return len(to_create), len(to_update) - reopened, reopened, len(resolved)


def _f(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _write_trends(pid: int, record: alerts.PatientRecord, ids, now) -> None:
    """Replace the patient's TrendSnapshot and CourseResponse rows (inside the caller's transaction)."""
    courses = record.metreleptin_courses()
    current = courses[-1] if courses else None
    snapshots = []
    for analyte in sorted({lab.analyte for lab in record.labs}):
        points = alerts.course_series(record, analyte)
        t = trends.analyte_trend(
            points,
            as_of=record.today,
            start=current.start_date if current else None,
            end=current.end_date if current else None,
        )
        snapshots.append(
            TrendSnapshot(
                patient_id=pid,
                analyte=analyte,
                course_id=ids["course"][current.key] if current else None,
                n_values=t.n_values,
                latest_value=_f(t.latest.value) if t.latest else None,
                latest_on=t.latest.on if t.latest else None,
                baseline_value=_f(t.baseline.value) if t.baseline else None,
                baseline_on=t.baseline.on if t.baseline else None,
                nadir_value=_f(t.nadir.value) if t.nadir else None,
                nadir_on=t.nadir.on if t.nadir else None,
                slope_per_year=t.slope_per_year,
                months={
                    str(m): {
                        "value": _f(mv.value.value),
                        "on": mv.value.on.isoformat(),
                        "change": _f(mv.change),
                        "percent_change": _f(mv.percent_change),
                    }
                    for m, mv in t.months.items()
                },
                computed_at=now,
            )
        )
    TrendSnapshot.objects.filter(patient_id=pid).delete()
    TrendSnapshot.objects.bulk_create(snapshots)
    hba1c, tg = alerts.course_series(record, "hba1c"), alerts.course_series(record, "triglycerides")
    responses = []
    for course in courses:
        r = trends.course_response(hba1c=hba1c, triglycerides=tg, start=course.start_date)
        responses.append(
            CourseResponse(
                course_id=ids["course"][course.key],
                response_class=r.response_class,
                hba1c_change=_f(r.hba1c_change),
                tg_percent_change=_f(r.tg_percent_change),
                computed_at=now,
            )
        )
    CourseResponse.objects.filter(course__patient_id=pid).delete()
    CourseResponse.objects.bulk_create(responses)


def patient_evaluate(*, patient_id: int, today: dt.date | None = None) -> EvaluationResult | None:
    """Evaluate one patient; None when the patient no longer exists."""
    now = timezone.now()
    today = today or timezone.localdate()
    with transaction.atomic():
        _lock_patient(patient_id)
        patient = (
            Patient.objects.filter(pk=patient_id)
            .values("id", "sex", "primary_subtype", "dirty_since", "needs_evaluation")
            .first()
        )
        if patient is None:
            return None
        seen_dirty = patient["dirty_since"]
        record, ids = load_record(patient, today=today)
        candidates = alerts.evaluate_alerts(record)
        created, updated, reopened, resolved = _write_alerts(patient_id, candidates, ids, now)
        _write_trends(patient_id, record, ids, now)
        # A write that committed after we read the flag moved dirty_since on: leave the
        # flag set so that write's own evaluation (or the sweep) sees it.
        cleared = (
            Patient.objects.filter(pk=patient_id, dirty_since=seen_dirty).update(
                needs_evaluation=False, evaluated_at=now
            )
            if seen_dirty is not None
            else Patient.objects.filter(pk=patient_id, dirty_since__isnull=True).update(
                needs_evaluation=False, evaluated_at=now
            )
        )
    return EvaluationResult(patient_id, len(record.labs), created, updated, reopened, resolved, bool(cleared))
