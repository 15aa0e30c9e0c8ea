"""Evaluation of patients: trends and alerts from the stored record.

:func:`patients_evaluate` evaluates a chunk of patients with a bounded number of queries
(the nightly recompute, the sweep and the ``recompute_trends`` command): the chunk's labs,
courses, doses, weights and alerts are read in a few queries, the pure rule and trend
functions run per patient, and the results are written in bulk. :func:`patient_evaluate`
is the same for one patient (the task after a write). Both are idempotent: alerts are
upserted per (patient, rule, subject), snapshots and course responses are replaced in one
transaction, and the outbox flag is cleared only if no write flagged the patient again
meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from clinical import alert_lifecycle, alerts, catalogue, records, trends
from clinical.formatting import as_float
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
from registry.models import Diagnosis, Patient, site_today

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
    withdrawn: int = 0


@dataclass(frozen=True)
class ChunkResult:
    patients: int  # evaluated (patients deleted meanwhile are skipped)
    labs: int
    created: int
    updated: int
    reopened: int
    resolved: int
    flags_cleared: int
    withdrawn: int = 0


# Rows per INSERT/UPDATE statement, and patients per flag-clearing UPDATE (its WHERE is
# one OR-term per patient).
WRITE_BATCH = 1000
FLAG_BATCH = 250


def _lock_patients(patient_ids: list[int]) -> None:
    """Take the evaluation lock of every patient of the chunk, in id order (one query)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_advisory_xact_lock(%s, ids.id) FROM "
                "(SELECT DISTINCT unnest(%s::integer[]) AS id ORDER BY 1) AS ids",
                [EVALUATION_LOCK_NAMESPACE, [int(i) for i in patient_ids]],
            )
    # SQLite serialises writers on the database file; the unique constraint and
    # ignore_conflicts below cover the rest.


def _canonical_uln(analyte: str, unit: str, high: Decimal | None) -> Decimal | None:
    if high is None:
        return None
    conv = catalogue.ANALYTES[analyte].unit(unit)
    return conv.to_canonical(high) if conv is not None else None


Ids = dict[str, dict[str, int]]


def load_records(
    patients: list[dict[str, Any]], *, today: dt.date | None
) -> dict[int, tuple[records.PatientRecord, Ids]]:
    """Each patient's record as plain data, and public id -> pk per evidence kind
    (5 queries for the whole chunk). ``today`` None: each patient's "today" is the date
    in the time zone of their site (RULES.md 5)."""
    pids = [p["id"] for p in patients]
    subtypes: dict[int, list[str]] = defaultdict(list)
    for pid, code in (
        Diagnosis.objects.filter(patient_id__in=pids).order_by("patient_id", "id").values_list("patient_id", "subtype")
    ):
        subtypes[pid].append(code)
    labs: dict[int, list[records.Lab]] = defaultdict(list)
    courses: dict[int, list[records.Course]] = defaultdict(list)
    weights: dict[int, list[records.Weight]] = defaultdict(list)
    ids: dict[int, Ids] = {pid: {"lab": {}, "course": {}, "dose": {}, "visit": {}} for pid in pids}
    for pid, pk, public_id, analyte, canonical, on, ref_high, unit in (
        LabResult.objects.filter(patient_id__in=pids)
        .order_by("patient_id", "collected_on", "id")
        .values_list(
            "patient_id", "id", "public_id", "analyte", "canonical_value", "collected_on", "reference_high", "unit"
        )
    ):
        key = str(public_id)
        ids[pid]["lab"][key] = pk
        labs[pid].append(records.Lab(key, analyte, canonical, on, _canonical_uln(analyte, unit, ref_high)))
    by_course: dict[int, list[records.Dose]] = defaultdict(list)
    for pid, pk, public_id, course_id, on, dose, unit in (
        DoseChange.objects.filter(course__patient_id__in=pids)
        .order_by("effective_date", "id")
        .values_list("course__patient_id", "id", "public_id", "course_id", "effective_date", "dose", "dose_unit")
    ):
        ids[pid]["dose"][str(public_id)] = pk
        by_course[course_id].append(records.Dose(str(public_id), on, dose, unit))
    for pid, pk, public_id, drug, start, end in (
        TreatmentCourse.objects.filter(patient_id__in=pids)
        .order_by("patient_id", "start_date", "id")
        .values_list("patient_id", "id", "public_id", "drug", "start_date", "end_date")
    ):
        ids[pid]["course"][str(public_id)] = pk
        courses[pid].append(records.Course(str(public_id), drug, start, end, tuple(by_course[pk])))
    for pid, pk, public_id, on, kg in (
        Visit.objects.filter(patient_id__in=pids, weight_kg__isnull=False)
        .order_by("patient_id", "visit_date", "id")
        .values_list("patient_id", "id", "public_id", "visit_date", "weight_kg")
    ):
        ids[pid]["visit"][str(public_id)] = pk
        weights[pid].append(records.Weight(str(public_id), on, kg))
    return {
        p["id"]: (
            records.PatientRecord(
                sex=p["sex"],
                subtype=p["primary_subtype"],
                subtypes=tuple(subtypes[p["id"]]),
                today=today or site_today(p.get("home_site__time_zone")),
                labs=tuple(labs[p["id"]]),
                courses=tuple(courses[p["id"]]),
                weights=tuple(weights[p["id"]]),
            ),
            ids[p["id"]],
        )
        for p in patients
    }


_EVIDENCE_FIELD = {"lab": "lab_result_id", "course": "course_id", "dose": "dose_change_id", "visit": "visit_id"}
_ALERT_UPDATE_FIELDS = [
    "severity",
    "severity_rank",
    "params",
    "message",
    "observed_on",
    "lab_result_id",
    "course_id",
    "dose_change_id",
    "visit_id",
    "status",
    "resolved_at",
    "acknowledged_at",
    "acknowledged_by_id",
    "acknowledge_note",
    "withdrawn_at",
    "withdrawn_by_id",
    "withdrawn_reason",
    "updated_at",
]


def _alert_fields(candidate: alerts.AlertCandidate, ids: Ids) -> dict[str, Any]:
    rule = alerts.RULES[candidate.rule]
    fields: dict[str, Any] = {
        "severity": rule.severity,
        "severity_rank": alerts.SEVERITY_RANK[rule.severity],
        "params": candidate.params,
        "message": alerts.render_alert_message(candidate.rule, candidate.params, catalogue.CONVENTIONAL),
        "observed_on": candidate.observed_on,
    }
    evidence = candidate.evidence
    if evidence is not None:
        kind, key = evidence
        fields[_EVIDENCE_FIELD[kind]] = ids[kind].get(key)
    return fields


def _plan_trends(
    pid: int, record: records.PatientRecord, ids: Ids, now
) -> tuple[list[TrendSnapshot], list[CourseResponse]]:
    """One patient's TrendSnapshot and CourseResponse rows (pure)."""
    courses = record.metreleptin_courses()
    current = courses[-1] if courses else None
    snapshots = []
    for analyte in sorted({lab.analyte for lab in record.labs}):
        points = record.series(analyte)
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
                latest_value=as_float(t.latest.value) if t.latest else None,
                latest_on=t.latest.on if t.latest else None,
                baseline_value=as_float(t.baseline.value) if t.baseline else None,
                baseline_on=t.baseline.on if t.baseline else None,
                nadir_value=as_float(t.nadir.value) if t.nadir else None,
                nadir_on=t.nadir.on if t.nadir else None,
                slope_per_year=t.slope_per_year,
                months={
                    str(m): {
                        "value": as_float(mv.value.value),
                        "on": mv.value.on.isoformat(),
                        "change": as_float(mv.change),
                        "percent_change": as_float(mv.percent_change),
                    }
                    for m, mv in t.months.items()
                },
                computed_at=now,
            )
        )
    hba1c, tg = record.series("hba1c"), record.series("triglycerides")
    responses = []
    for course in courses:
        r = trends.course_response(
            hba1c=hba1c, triglycerides=tg, start=course.start_date, end=course.end_date, today=record.today
        )
        responses.append(
            CourseResponse(
                course_id=ids["course"][course.key],
                response_class=r.response_class,
                hba1c_change=as_float(r.hba1c_change),
                tg_percent_change=as_float(r.tg_percent_change),
                provisional=r.provisional,
                computed_at=now,
            )
        )
    return snapshots, responses


def _clear_flags(seen_dirty: dict[int, dt.datetime | None], now) -> set[int]:
    """Clear the outbox flag of the patients whose ``dirty_since`` is still the value read
    at the start: a write that committed meanwhile moved it on, and its own evaluation (or
    the sweep) will see the flag. Returns the patients cleared."""
    pids = list(seen_dirty)
    cleared = 0
    for i in range(0, len(pids), FLAG_BATCH):
        q = Q()
        for pid in pids[i : i + FLAG_BATCH]:
            seen = seen_dirty[pid]
            q |= Q(pk=pid, dirty_since__isnull=True) if seen is None else Q(pk=pid, dirty_since=seen)
        cleared += Patient.objects.filter(q).update(needs_evaluation=False, evaluated_at=now)
    if cleared == len(pids):
        return set(pids)
    if cleared == 0:
        return set()
    return set(
        Patient.objects.filter(pk__in=pids, needs_evaluation=False, evaluated_at=now).values_list("id", flat=True)
    )


def _evaluate(patient_ids: list[int], today: dt.date | None) -> dict[int, EvaluationResult]:
    now = timezone.now()
    pids = sorted({int(i) for i in patient_ids})
    if not pids:
        return {}
    with transaction.atomic():
        _lock_patients(pids)
        patients = list(
            Patient.objects.filter(pk__in=pids)
            .order_by("id")
            .values("id", "sex", "primary_subtype", "dirty_since", "needs_evaluation", "home_site__time_zone")
        )
        if not patients:
            return {}
        found = [p["id"] for p in patients]
        loaded = load_records(patients, today=today)
        existing: dict[int, dict[tuple[str, str], Alert]] = defaultdict(dict)
        for a in Alert.objects.filter(patient_id__in=found):
            existing[a.patient_id][(a.rule, a.subject_key)] = a
        to_create: list[Alert] = []
        to_update: list[Alert] = []
        snapshots: list[TrendSnapshot] = []
        responses: list[CourseResponse] = []
        counts: dict[int, alert_lifecycle.Plan] = {}
        withdrawn: list[Alert] = []
        for pid in found:
            record, ids = loaded[pid]
            plan = alert_lifecycle.plan_alerts(
                pid, alerts.evaluate_alerts(record), lambda c, ids=ids: _alert_fields(c, ids), existing[pid], now
            )
            counts[pid] = plan
            to_create += plan.create
            to_update += plan.update
            withdrawn += plan.withdraw
            snaps, resps = _plan_trends(pid, record, ids, now)
            snapshots += snaps
            responses += resps
        alert_lifecycle.withdrawal_reasons(withdrawn, today or timezone.localdate())
        Alert.objects.bulk_create(to_create, ignore_conflicts=True, batch_size=WRITE_BATCH)
        if to_update:
            Alert.objects.bulk_update(to_update, _ALERT_UPDATE_FIELDS, batch_size=WRITE_BATCH)
        TrendSnapshot.objects.filter(patient_id__in=found).delete()
        TrendSnapshot.objects.bulk_create(snapshots, batch_size=WRITE_BATCH)
        CourseResponse.objects.filter(course__patient_id__in=found).delete()
        CourseResponse.objects.bulk_create(responses, batch_size=WRITE_BATCH)
        cleared = _clear_flags({p["id"]: p["dirty_since"] for p in patients}, now)
    return {
        pid: EvaluationResult(
            pid,
            len(loaded[pid][0].labs),
            counts[pid].created,
            counts[pid].updated,
            counts[pid].reopened,
            counts[pid].resolved,
            pid in cleared,
            len(counts[pid].withdraw),
        )
        for pid in found
    }


def patients_evaluate(*, patient_ids: list[int], today: dt.date | None = None) -> ChunkResult:
    """Evaluate a chunk of patients in one transaction with a bounded number of queries
    (about 15, growing only with the batch sizes of the writes)."""
    results = _evaluate(patient_ids, today).values()
    return ChunkResult(
        patients=len(results),
        labs=sum(r.labs for r in results),
        created=sum(r.created for r in results),
        updated=sum(r.updated for r in results),
        reopened=sum(r.reopened for r in results),
        resolved=sum(r.resolved for r in results),
        flags_cleared=sum(r.flag_cleared for r in results),
        withdrawn=sum(r.withdrawn for r in results),
    )


def patient_evaluate(*, patient_id: int, today: dt.date | None = None) -> EvaluationResult | None:
    """Evaluate one patient; None when the patient no longer exists."""
    return _evaluate([patient_id], today).get(int(patient_id))


# --------------------------------------------------------------------------------------
# Which patients to evaluate (read by the periodic tasks)
# --------------------------------------------------------------------------------------


def dirty_patient_ids(*, older_than: dt.datetime, limit: int) -> list[int]:
    """Patients still flagged for evaluation since before ``older_than`` (oldest first)."""
    return list(
        Patient.objects.filter(needs_evaluation=True)
        .filter(Q(dirty_since__lte=older_than) | Q(dirty_since__isnull=True))
        .order_by("dirty_since")
        .values_list("id", flat=True)[:limit]
    )


def all_patient_ids() -> Iterator[int]:
    """Every patient, in id order, streamed (the nightly recompute)."""
    return Patient.objects.order_by("id").values_list("id", flat=True).iterator(chunk_size=5000)


def monitoring_patient_ids(today: dt.date) -> list[int]:
    """Patients the daily MONITORING_OVERDUE check must look at: an active metreleptin
    course today, or an unresolved MONITORING_OVERDUE alert (so it can resolve)."""
    # Each patient's "today" is their site's date (up to a day either side of ``today``):
    # pick every course that may be active on it; the evaluation applies the site's date.
    active = TreatmentCourse.objects.filter(drug="metreleptin", start_date__lte=today + dt.timedelta(days=1)).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=today - dt.timedelta(days=1))
    )
    open_alerts = Alert.objects.filter(rule="MONITORING_OVERDUE").exclude(status=AlertStatus.RESOLVED)
    ids = set(active.values_list("patient_id", flat=True)) | set(open_alerts.values_list("patient_id", flat=True))
    return sorted(ids)
