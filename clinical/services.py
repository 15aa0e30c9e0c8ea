"""Writes to the clinical record: the one path for forms, the API, imports and the demo.

Every function validates (raising ``ValidationError`` with field-keyed messages), writes
in one transaction with its audit row, marks the patient for evaluation in that same
transaction and enqueues the evaluation on commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clinical import catalogue
from clinical.models import DoseChange, LabResult, Skinfold, Source, TreatmentCourse, Visit
from registry.audit import audit_record, diff, snapshot
from registry.models import Patient, PhenotypeObservation

log = logging.getLogger(__name__)

EARLIEST_DATE = dt.date(1900, 1, 1)
VALUE_DECIMALS = 6
CANONICAL_QUANTUM = Decimal("1e-10")


class ConflictError(Exception):
    """Someone else saved the record since the user loaded it (optimistic concurrency)."""

    def __init__(self, message: str, *, current: dict[str, Any], changed: dict[str, list[Any]]):
        super().__init__(message)
        self.current = current
        self.changed = changed


# --------------------------------------------------------------------------------------
# Evaluation outbox
# --------------------------------------------------------------------------------------


_batch = threading.local()


@contextmanager
def evaluations_batched() -> Iterator[None]:
    """Within the block, writes still flag their patients, but each flagged patient's
    evaluation is enqueued once, on commit after the block, instead of once per write
    (bulk loads such as the demo seed write dozens of rows per patient)."""
    if getattr(_batch, "ids", None) is not None:  # nested: the outer block enqueues
        yield
        return
    _batch.ids = ids = {}
    try:
        yield
    finally:
        _batch.ids = None
    if ids:
        transaction.on_commit(lambda ids=list(ids): enqueue_evaluations(ids))


def patient_mark_for_evaluation(patient: Patient) -> None:
    """Flag the patient in the current transaction; enqueue the evaluation on commit.

    The flag is the outbox: if the enqueue is lost (broker down), the periodic sweep
    finds the patient and evaluates it.
    """
    now = timezone.now()
    Patient.objects.filter(pk=patient.pk).update(needs_evaluation=True, dirty_since=now)
    patient_id = patient.pk
    batch = getattr(_batch, "ids", None)
    if batch is not None:
        batch[patient_id] = None
        return
    transaction.on_commit(lambda: enqueue_evaluation(patient_id))


def patients_mark_for_evaluation(patient_ids: Iterable[int]) -> None:
    """Bulk form of :func:`patient_mark_for_evaluation` (one UPDATE; on commit, one
    evaluation message per chunk of patients) for bulk writes such as a lab import."""
    ids = sorted(set(patient_ids))
    if not ids:
        return
    Patient.objects.filter(pk__in=ids).update(needs_evaluation=True, dirty_since=timezone.now())
    batch = getattr(_batch, "ids", None)
    if batch is not None:
        batch.update(dict.fromkeys(ids))
        return
    transaction.on_commit(lambda: enqueue_evaluations(ids))


def enqueue_evaluations(patient_ids: list[int]) -> bool:
    """Publish the evaluation of several patients: one ``evaluate_patients`` message per
    chunk, evaluated with a bounded number of queries per chunk. Never raises."""
    if len(patient_ids) == 1:
        return enqueue_evaluation(patient_ids[0])
    from clinical.tasks import fan_out

    try:
        fan_out(patient_ids)
        return True
    except Exception:  # broker unreachable: the flags stay set, the sweep catches up
        log.warning(
            "could not enqueue evaluation of %d patients; the sweep will pick them up", len(patient_ids), exc_info=True
        )
        return False


def enqueue_evaluation(patient_id: int) -> bool:
    """Publish ``evaluate_patient``; never raises (the sweep covers a lost message)."""
    from clinical.tasks import evaluate_patient

    try:
        evaluate_patient.delay(patient_id)
        return True
    except Exception:  # broker unreachable: the write has committed, the sweep catches up
        log.warning("could not enqueue evaluation of patient %s; the sweep will pick it up", patient_id, exc_info=True)
        return False


# --------------------------------------------------------------------------------------
# Lab results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidatedLab:
    analyte: catalogue.Analyte
    value: Decimal
    unit: str  # the accepted spelling
    canonical: Decimal
    reference_low: Decimal | None
    reference_high: Decimal | None


def _decimal(raw: Any, field: str, errors: dict[str, list[str]], label: str) -> Decimal | None:
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(str(raw).strip().replace(",", ".")) if isinstance(raw, str) else Decimal(str(raw))
    except (InvalidOperation, ValueError):
        errors.setdefault(field, []).append(f"{label} {raw!r} is not a number.")
        return None
    if not value.is_finite():
        errors.setdefault(field, []).append(f"{label} must be a finite number.")
        return None
    return value


def _fmt(d: Decimal | None) -> str:
    """A number for a message: up to 3 decimals; huge or tiny input (as typed or sent by a
    client) in scientific notation instead of overflowing the Decimal context."""
    if d is None:
        return "-"
    if d and (abs(d) >= Decimal("1e12") or abs(d) < Decimal("1e-3")):
        return format(d, ".6g")
    q = d.quantize(Decimal("0.001")) if abs(d) < 1000 else d.quantize(Decimal("1"))
    return format(q.normalize(), "f")


def lab_validate(
    *,
    analyte: str,
    value: Any,
    unit: str,
    collected_on: dt.date | None,
    reference_low: Any = None,
    reference_high: Any = None,
    today: dt.date | None = None,
) -> ValidatedLab:
    """Check one lab entry against the catalogue (no database). Raises ValidationError
    keyed by field, with messages naming analyte, value, unit and the accepted range."""
    errors: dict[str, list[str]] = {}
    info = catalogue.ANALYTES.get((analyte or "").strip())
    if info is None:
        errors["analyte"] = [f"Unknown analyte {analyte!r}; known analytes: {', '.join(catalogue.ANALYTES)}."]
        raise ValidationError(errors)
    conv = info.unit(unit or "")
    if conv is None:
        errors["unit"] = [
            f"Unit {unit!r} is not accepted for {info.name}; accepted units: {', '.join(info.accepted_units)}."
        ]
    number = _decimal(value, "value", errors, f"{info.name} value")
    if number is None and "value" not in errors:
        errors["value"] = [f"{info.name} needs a value."]
    ref_low = _decimal(reference_low, "reference_low", errors, "Reference low")
    ref_high = _decimal(reference_high, "reference_high", errors, "Reference high")
    if ref_low is not None and ref_high is not None and ref_low > ref_high:
        errors.setdefault("reference_high", []).append("The reference range's upper limit is below its lower limit.")
    for name, ref in (("reference_low", ref_low), ("reference_high", ref_high)):
        if ref is not None and ref < 0:
            errors.setdefault(name, []).append("A reference limit cannot be negative.")
    today = today or timezone.localdate()
    if collected_on is None:
        errors["collected_on"] = ["The collection date is required."]
    elif collected_on > today:
        errors["collected_on"] = [f"The collection date {collected_on.isoformat()} is in the future."]
    elif collected_on < EARLIEST_DATE:
        errors["collected_on"] = [f"The collection date {collected_on.isoformat()} is before {EARLIEST_DATE.year}."]
    canonical = None
    if conv is not None and number is not None:
        if number.as_tuple().exponent < -VALUE_DECIMALS:  # type: ignore[operator]
            errors.setdefault("value", []).append(f"Give the value with at most {VALUE_DECIMALS} decimals.")
        canonical = conv.to_canonical(number)
        if number < 0 or not info.hard_limits.contains(canonical):
            limits = info.limits_in(conv.unit)
            errors.setdefault("value", []).append(
                f"{info.name} {_fmt(number)} {conv.unit} is implausible: accepted range "
                f"{_fmt(limits.low)}-{_fmt(limits.high)} {conv.unit}."
            )
    if errors:
        raise ValidationError(errors)
    assert conv is not None and number is not None and canonical is not None
    return ValidatedLab(info, number, conv.unit, canonical.quantize(CANONICAL_QUANTUM), ref_low, ref_high)


def _lab_fields(v: ValidatedLab) -> dict[str, Any]:
    return {
        "analyte": v.analyte.code,
        "value": v.value,
        "unit": v.unit,
        "canonical_value": v.canonical,
        "reference_low": v.reference_low,
        "reference_high": v.reference_high,
    }


def lab_result_record(
    *,
    patient: Patient,
    analyte: str,
    value: Any,
    unit: str,
    collected_on: dt.date,
    by,
    fasting: bool | None = None,
    reference_low: Any = None,
    reference_high: Any = None,
    visit: Visit | None = None,
    source: str = Source.FORM,
) -> LabResult:
    """Record one lab result (validated, converted, audited, evaluated on commit)."""
    v = lab_validate(
        analyte=analyte,
        value=value,
        unit=unit,
        collected_on=collected_on,
        reference_low=reference_low,
        reference_high=reference_high,
    )
    if visit is not None and visit.patient_id != patient.pk:
        raise ValidationError({"visit": ["The visit belongs to another patient."]})
    with transaction.atomic():
        result = LabResult.objects.create(
            patient=patient,
            visit=visit,
            collected_on=collected_on,
            fasting=fasting,
            source=source,
            created_by=by if getattr(by, "is_authenticated", False) else None,
            **_lab_fields(v),
        )
        audit_record(user=by, action="create", obj=result, patient=patient, changes=diff({}, snapshot(result)))
        patient_mark_for_evaluation(patient)
    return result


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"change_reason": ["A reason for the change is required."]})
    return reason


def _check_version(obj, expected_version: int | None, editable: list[str]) -> None:
    if expected_version is None:
        return
    if int(expected_version) != obj.version:
        raise ConflictError(
            f"This record was changed by someone else (version {obj.version}, you edited version "
            f"{expected_version}). Review the current values and apply your change again.",
            current=snapshot(obj, editable + ["version"]),
            changed={},
        )


LAB_EDITABLE = ["analyte", "value", "unit", "collected_on", "fasting", "reference_low", "reference_high"]


def lab_result_update(*, result: LabResult, by, reason: str, expected_version: int | None, **fields: Any) -> LabResult:
    """Edit a lab result; needs a reason; refuses a stale version (ConflictError)."""
    reason = _require_reason(reason)
    unknown = set(fields) - set(LAB_EDITABLE)
    if unknown:
        raise ValidationError({k: ["This field cannot be changed."] for k in sorted(unknown)})
    with transaction.atomic():
        current = LabResult.objects.select_for_update().get(pk=result.pk)
        _check_version(current, expected_version, LAB_EDITABLE)
        merged = {k: fields.get(k, getattr(current, k)) for k in LAB_EDITABLE}
        v = lab_validate(
            analyte=merged["analyte"],
            value=merged["value"],
            unit=merged["unit"],
            collected_on=merged["collected_on"],
            reference_low=merged["reference_low"],
            reference_high=merged["reference_high"],
        )
        before = snapshot(current)
        for k, val in _lab_fields(v).items():
            setattr(current, k, val)
        current.collected_on = merged["collected_on"]
        current.fasting = merged["fasting"]
        changes = diff(before, snapshot(current))
        if not changes:
            return current
        current.version += 1
        current.save()
        audit_record(user=by, action="update", obj=current, patient=current.patient, changes=changes, reason=reason)
        patient_mark_for_evaluation(current.patient)
    return current


def lab_result_delete(*, result: LabResult, by, reason: str, expected_version: int | None = None) -> None:
    reason = _require_reason(reason)
    with transaction.atomic():
        current = LabResult.objects.select_for_update().get(pk=result.pk)
        _check_version(current, expected_version, LAB_EDITABLE)
        patient = current.patient
        audit_record(
            user=by, action="delete", obj=current, patient=patient, changes=diff(snapshot(current), {}), reason=reason
        )
        current.delete()
        patient_mark_for_evaluation(patient)


# --------------------------------------------------------------------------------------
# Visits
# --------------------------------------------------------------------------------------

VISIT_FIELDS = [
    "visit_date",
    "weight_kg",
    "height_cm",
    "waist_cm",
    "hip_cm",
    "systolic_bp",
    "diastolic_bp",
    "dxa_total_fat_pct",
    "dxa_trunk_fat_pct",
    "dxa_leg_fat_pct",
    "dxa_arm_fat_pct",
    "liver_ultrasound",
    "liver_pdff_pct",
    "liver_stiffness_kpa",
    "liver_cap_dbm",
    "injection_site_finding",
    "injection_site_notes",
    "rotation_education_given",
    "notes",
]
_VISIT_LIMIT_KEYS = {
    "weight_kg": ("weight_kg", "Weight", "kg"),
    "height_cm": ("height_cm", "Height", "cm"),
    "waist_cm": ("waist_cm", "Waist", "cm"),
    "hip_cm": ("hip_cm", "Hip", "cm"),
    "systolic_bp": ("systolic_bp", "Systolic blood pressure", "mmHg"),
    "diastolic_bp": ("diastolic_bp", "Diastolic blood pressure", "mmHg"),
    "dxa_total_fat_pct": ("fat_pct", "DXA total fat", "%"),
    "dxa_trunk_fat_pct": ("fat_pct", "DXA trunk fat", "%"),
    "dxa_leg_fat_pct": ("fat_pct", "DXA leg fat", "%"),
    "dxa_arm_fat_pct": ("fat_pct", "DXA arm fat", "%"),
    "liver_pdff_pct": ("liver_pdff_pct", "Liver PDFF", "%"),
    "liver_stiffness_kpa": ("liver_stiffness_kpa", "Liver stiffness", "kPa"),
    "liver_cap_dbm": ("liver_cap_dbm", "CAP", "dB/m"),
}


def visit_validate(fields: dict[str, Any], *, today: dt.date | None = None) -> dict[str, Any]:
    """Check the visit's own fields (no database); returns them cleaned."""
    errors: dict[str, list[str]] = {}
    clean = dict(fields)
    today = today or timezone.localdate()
    day = fields.get("visit_date")
    if day is None:
        errors["visit_date"] = ["The visit date is required."]
    elif day > today:
        errors["visit_date"] = [f"The visit date {day.isoformat()} is in the future."]
    elif day < EARLIEST_DATE:
        errors["visit_date"] = [f"The visit date {day.isoformat()} is before {EARLIEST_DATE.year}."]
    for name, (key, label, unit) in _VISIT_LIMIT_KEYS.items():
        raw = fields.get(name)
        number = _decimal(raw, name, errors, label)
        if number is None:
            clean[name] = None
            continue
        limits = catalogue.VITAL_LIMITS[key]
        if not limits.contains(number):
            errors.setdefault(name, []).append(
                f"{label} {_fmt(number)} {unit} is implausible: accepted range {_fmt(limits.low)}-{_fmt(limits.high)} {unit}."
            )
        clean[name] = number
    sbp, dbp = clean.get("systolic_bp"), clean.get("diastolic_bp")
    if sbp is not None and dbp is not None and sbp <= dbp:
        errors.setdefault("diastolic_bp", []).append("Diastolic pressure must be below systolic pressure.")
    for name in ("systolic_bp", "diastolic_bp", "liver_cap_dbm"):
        if clean.get(name) is not None and clean[name] != clean[name].to_integral_value():
            errors.setdefault(name, []).append("Give a whole number.")
    if errors:
        raise ValidationError(errors)
    for name in ("systolic_bp", "diastolic_bp", "liver_cap_dbm"):
        if clean.get(name) is not None:
            clean[name] = int(clean[name])
    return clean


@dataclass
class LabEntry:
    analyte: str
    value: Any
    unit: str
    collected_on: dt.date | None = None  # defaults to the visit date
    fasting: bool | None = None
    reference_low: Any = None
    reference_high: Any = None


def _check_skinfolds(skinfolds: Iterable[tuple[str, Any]], errors: dict[str, list[str]]) -> list[tuple[str, Decimal]]:
    """Validated (site, mm) pairs; errors keyed ``skinfolds.<i>``."""
    folds: list[tuple[str, Decimal]] = []
    sites_seen: set[str] = set()
    valid_sites = dict(catalogue.SKINFOLD_SITES)
    limits = catalogue.VITAL_LIMITS["skinfold_mm"]
    for i, (fold_site, mm) in enumerate(skinfolds):
        number = _decimal(mm, f"skinfolds.{i}", errors, "Skinfold")
        if fold_site not in valid_sites:
            errors[f"skinfolds.{i}"] = [f"Unknown skinfold site {fold_site!r}."]
        elif fold_site in sites_seen:
            errors[f"skinfolds.{i}"] = [f"{valid_sites[fold_site]} is entered twice."]
        elif number is None:
            errors.setdefault(f"skinfolds.{i}", []).append("Give the skinfold thickness in mm.")
        elif not limits.contains(number):
            errors[f"skinfolds.{i}"] = [
                f"Skinfold {_fmt(number)} mm is implausible: accepted range {_fmt(limits.low)}-{_fmt(limits.high)} mm."
            ]
        else:
            folds.append((fold_site, number))
        sites_seen.add(fold_site)
    return folds


def _check_phenotypes(phenotypes: Iterable[tuple[str, bool]], errors: dict[str, list[str]]) -> list[tuple[str, bool]]:
    """Validated (HPO id, excluded) pairs; errors keyed ``phenotypes.<i>``."""
    findings: list[tuple[str, bool]] = []
    for i, (hpo_id, excluded) in enumerate(phenotypes):
        if hpo_id not in catalogue.HPO_TERMS:
            errors[f"phenotypes.{i}"] = [f"{hpo_id!r} is not one of the registry's HPO terms."]
        else:
            findings.append((hpo_id, bool(excluded)))
    return findings


def visit_record(
    *,
    patient: Patient,
    by,
    site=None,
    labs: Iterable[LabEntry] = (),
    skinfolds: Iterable[tuple[str, Any]] = (),
    phenotypes: Iterable[tuple[str, bool]] = (),
    source: str = Source.FORM,
    validate_only: bool = False,
    **fields: Any,
) -> Visit | None:
    """Record a visit with its skinfolds, HPO findings and lab panel in one transaction.

    ``validate_only``: check every part and raise the errors, write nothing, return None
    (a form whose other inputs could not be parsed still gets every row checked).

    Errors are collected for every part before anything is written; lab errors are keyed
    ``labs.<i>.<field>``, skinfold errors ``skinfolds.<i>``, finding errors ``phenotypes.<i>``.
    """
    unknown = set(fields) - set(VISIT_FIELDS)
    if unknown:
        raise ValidationError({k: ["Unknown visit field."] for k in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    try:
        clean = visit_validate(fields)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        clean = dict(fields)
    day = fields.get("visit_date")
    validated: list[tuple[LabEntry, ValidatedLab]] = []
    for i, entry in enumerate(labs):
        try:
            validated.append(
                (
                    entry,
                    lab_validate(
                        analyte=entry.analyte,
                        value=entry.value,
                        unit=entry.unit,
                        collected_on=entry.collected_on or day,
                        reference_low=entry.reference_low,
                        reference_high=entry.reference_high,
                    ),
                )
            )
        except ValidationError as exc:
            for field, msgs in exc.message_dict.items():
                errors[f"labs.{i}.{field}"] = msgs
    folds = _check_skinfolds(skinfolds, errors)
    findings = _check_phenotypes(phenotypes, errors)
    if errors:
        raise ValidationError(errors)
    if validate_only:
        return None
    user = by if getattr(by, "is_authenticated", False) else None
    with transaction.atomic():
        visit = Visit.objects.create(
            patient=patient, site=site or patient.home_site, clinician=user, created_by=user, source=source, **clean
        )
        Skinfold.objects.bulk_create([Skinfold(visit=visit, site=s, mm=mm) for s, mm in folds])
        PhenotypeObservation.objects.bulk_create(
            [
                PhenotypeObservation(
                    patient=patient,
                    visit=visit,
                    hpo_id=h,
                    label=catalogue.HPO_TERMS[h],
                    excluded=ex,
                    observed_on=visit.visit_date,
                )
                for h, ex in findings
            ]
        )
        results = LabResult.objects.bulk_create(
            [
                LabResult(
                    patient=patient,
                    visit=visit,
                    collected_on=entry.collected_on or visit.visit_date,
                    fasting=entry.fasting,
                    source=source,
                    created_by=user,
                    **_lab_fields(v),
                )
                for entry, v in validated
            ]
        )
        audit_record(user=by, action="create", obj=visit, patient=patient, changes=diff({}, snapshot(visit)))
        for r in results:
            audit_record(user=by, action="create", obj=r, patient=patient, changes=diff({}, snapshot(r)))
        patient_mark_for_evaluation(patient)
    return visit


def _visit_parts(visit: Visit) -> tuple[list[str], list[str]]:
    """The visit's skinfolds and HPO findings as audit text (sorted, comparable)."""
    folds = sorted(f"{s.site} {_fmt(s.mm)} mm" for s in visit.skinfolds.all())
    found = sorted(f"{p.hpo_id} {'excluded' if p.excluded else 'present'}" for p in visit.phenotypes.all())
    return folds, found


def visit_update(
    *,
    visit: Visit,
    by,
    reason: str,
    expected_version: int | None,
    skinfolds: Iterable[tuple[str, Any]] | None = None,
    phenotypes: Iterable[tuple[str, bool]] | None = None,
    **fields: Any,
) -> Visit:
    """Edit a visit's own fields and, when given, replace its skinfolds and HPO findings;
    one transaction, one audit row with the reason, refuses a stale version."""
    unknown = set(fields) - set(VISIT_FIELDS)
    if unknown:
        raise ValidationError({k: ["This field cannot be changed."] for k in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    try:
        reason = _require_reason(reason)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    folds = _check_skinfolds(skinfolds, errors) if skinfolds is not None else None
    findings = _check_phenotypes(phenotypes, errors) if phenotypes is not None else None
    with transaction.atomic():
        current = Visit.objects.select_for_update().get(pk=visit.pk)
        _check_version(current, expected_version, VISIT_FIELDS)
        merged = {k: fields.get(k, getattr(current, k)) for k in VISIT_FIELDS}
        try:
            clean = visit_validate(merged)
        except ValidationError as exc:
            errors = {**exc.message_dict, **errors}
        if errors:
            raise ValidationError(errors)
        before = snapshot(current)
        folds_before, found_before = _visit_parts(current)
        for k, val in clean.items():
            setattr(current, k, val)
        changes = diff(before, snapshot(current))
        folds_after = folds_before if folds is None else sorted(f"{s} {_fmt(mm)} mm" for s, mm in folds)
        found_after = (
            found_before if findings is None else sorted(f"{h} {'excluded' if ex else 'present'}" for h, ex in findings)
        )
        if folds_after != folds_before:
            changes["skinfolds"] = [folds_before, folds_after]
            current.skinfolds.all().delete()
            Skinfold.objects.bulk_create([Skinfold(visit=current, site=s, mm=mm) for s, mm in folds or ()])
        if found_after != found_before:
            changes["phenotypes"] = [found_before, found_after]
            current.phenotypes.all().delete()
            PhenotypeObservation.objects.bulk_create(
                [
                    PhenotypeObservation(
                        patient=current.patient,
                        visit=current,
                        hpo_id=h,
                        label=catalogue.HPO_TERMS[h],
                        excluded=ex,
                        observed_on=current.visit_date,
                    )
                    for h, ex in findings or ()
                ]
            )
        elif "visit_date" in changes:
            current.phenotypes.update(observed_on=current.visit_date)
        if not changes:
            return current
        current.version += 1
        current.save()
        audit_record(user=by, action="update", obj=current, patient=current.patient, changes=changes, reason=reason)
        patient_mark_for_evaluation(current.patient)
    return current


# --------------------------------------------------------------------------------------
# Treatment courses
# --------------------------------------------------------------------------------------


def latest_weight_kg(patient: Patient, on_or_before: dt.date) -> Decimal | None:
    """Latest visit weight on or before a date (the label's 'weight at start')."""
    return (
        Visit.objects.filter(patient=patient, visit_date__lte=on_or_before, weight_kg__isnull=False)
        .order_by("-visit_date", "-id")
        .values_list("weight_kg", flat=True)
        .first()
    )


def dose_validate(*, drug: str, dose: Any, dose_unit: str, weight_kg: Decimal | None = None) -> Decimal:
    errors: dict[str, list[str]] = {}
    info = catalogue.DRUGS.get(drug)
    if info is None:
        raise ValidationError({"drug": [f"Unknown drug {drug!r}; known drugs: {', '.join(catalogue.DRUGS)}."]})
    number = _decimal(dose, "dose", errors, "Dose")
    if number is None and "dose" not in errors:
        errors["dose"] = ["A dose is required."]
    if dose_unit not in info.units:
        errors["dose_unit"] = [f"Unit {dose_unit!r} is not used for {info.name}; use {', '.join(info.units)}."]
    if number is not None and "dose_unit" not in errors:
        if number < 0:
            errors.setdefault("dose", []).append("A dose cannot be negative.")
        elif number.as_tuple().exponent < -3:  # type: ignore[operator]
            errors.setdefault("dose", []).append("Give the dose with at most 3 decimals.")
        hard = info.hard_max.get(dose_unit)
        if hard is not None and number > hard:
            errors.setdefault("dose", []).append(
                f"{info.name} {_fmt(number)} {dose_unit} is implausible (above {_fmt(hard)} {dose_unit})."
            )
        if drug == "metreleptin" and weight_kg:
            cap = catalogue.METRELEPTIN_HARD_MAX_MG_PER_KG * Decimal(weight_kg)
            if number > cap:
                errors.setdefault("dose", []).append(
                    f"Metreleptin {_fmt(number)} mg/day is {_fmt(number / Decimal(weight_kg))} mg/kg/day, above the "
                    f"plausible {catalogue.METRELEPTIN_HARD_MAX_MG_PER_KG} mg/kg/day ({_fmt(cap)} mg/day at {_fmt(Decimal(weight_kg))} kg)."
                )
    if errors:
        raise ValidationError(errors)
    assert number is not None
    return number


def _overlapping(patient: Patient, drug: str, start: dt.date, end: dt.date | None, exclude_pk: int | None = None):
    qs = TreatmentCourse.objects.filter(patient=patient, drug=drug).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=start)
    )
    if end is not None:
        qs = qs.filter(start_date__lte=end)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return qs.first()


def course_start(
    *,
    patient: Patient,
    drug: str,
    start_date: dt.date,
    dose: Any,
    dose_unit: str,
    by,
    end_date: dt.date | None = None,
    stop_reason: str = "",
    notes: str = "",
    source: str = Source.FORM,
) -> TreatmentCourse:
    """Start a course with its first dose. Overlapping courses of one drug are refused."""
    errors: dict[str, list[str]] = {}
    today = timezone.localdate()
    if start_date is None:
        errors["start_date"] = ["The start date is required."]
    elif start_date > today:
        errors["start_date"] = [f"The start date {start_date.isoformat()} is in the future."]
    elif start_date < EARLIEST_DATE:
        errors["start_date"] = [f"The start date {start_date.isoformat()} is before {EARLIEST_DATE.year}."]
    if end_date is not None and start_date is not None and end_date < start_date:
        errors["end_date"] = ["The end date is before the start date."]
    if end_date is not None and end_date > today:
        errors["end_date"] = [f"The end date {end_date.isoformat()} is in the future."]
    if stop_reason and end_date is None:
        errors["stop_reason"] = ["A stop reason needs an end date."]
    weight = latest_weight_kg(patient, start_date) if start_date else None
    try:
        number = dose_validate(drug=drug, dose=dose, dose_unit=dose_unit, weight_kg=weight)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    user = by if getattr(by, "is_authenticated", False) else None
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()  # serialise course writes per patient
        clash = _overlapping(patient, drug, start_date, end_date)
        if clash is not None:
            until = clash.end_date.isoformat() if clash.end_date else "ongoing"
            raise ValidationError(
                {
                    "start_date": [
                        f"Overlaps the {catalogue.DRUGS[drug].name} course from {clash.start_date.isoformat()} ({until}); "
                        "stop that course first or adjust its dose instead."
                    ]
                }
            )
        course = TreatmentCourse.objects.create(
            patient=patient,
            drug=drug,
            start_date=start_date,
            end_date=end_date,
            stop_reason=stop_reason,
            notes=notes,
            source=source,
            created_by=user,
        )
        first = DoseChange.objects.create(
            course=course, effective_date=start_date, dose=number, dose_unit=dose_unit, created_by=user
        )
        audit_record(user=by, action="create", obj=course, patient=patient, changes=diff({}, snapshot(course)))
        audit_record(user=by, action="create", obj=first, patient=patient, changes=diff({}, snapshot(first)))
        patient_mark_for_evaluation(patient)
    return course


def dose_change_record(
    *, course: TreatmentCourse, effective_date: dt.date, dose: Any, dose_unit: str, by, reason: str = ""
) -> DoseChange:
    errors: dict[str, list[str]] = {}
    if effective_date is None:
        errors["effective_date"] = ["The date of the dose change is required."]
    elif effective_date < course.start_date:
        errors["effective_date"] = [f"The dose change is before the course start ({course.start_date.isoformat()})."]
    elif course.end_date and effective_date > course.end_date:
        errors["effective_date"] = [f"The dose change is after the course ended ({course.end_date.isoformat()})."]
    elif effective_date > timezone.localdate():
        errors["effective_date"] = [f"The date {effective_date.isoformat()} is in the future."]
    weight = latest_weight_kg(course.patient, effective_date) if effective_date else None
    try:
        number = dose_validate(drug=course.drug, dose=dose, dose_unit=dose_unit, weight_kg=weight)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if not errors and DoseChange.objects.filter(course=course, effective_date=effective_date).exists():
        errors["effective_date"] = [
            f"A dose is already recorded from {effective_date.isoformat()}; change that entry instead."
        ]
    if errors:
        raise ValidationError(errors)
    user = by if getattr(by, "is_authenticated", False) else None
    with transaction.atomic():
        change = DoseChange.objects.create(
            course=course,
            effective_date=effective_date,
            dose=number,
            dose_unit=dose_unit,
            reason=reason,
            created_by=user,
        )
        audit_record(user=by, action="create", obj=change, patient=course.patient, changes=diff({}, snapshot(change)))
        patient_mark_for_evaluation(course.patient)
    return change


def course_stop(
    *,
    course: TreatmentCourse,
    end_date: dt.date,
    stop_reason: str,
    by,
    tapered: bool = False,
    expected_version: int | None = None,
    reason: str = "",
) -> TreatmentCourse:
    from clinical.models import StopReason

    errors: dict[str, list[str]] = {}
    if end_date is None:
        errors["end_date"] = ["The stop date is required."]
    elif end_date < course.start_date:
        errors["end_date"] = [f"The stop date is before the course start ({course.start_date.isoformat()})."]
    elif end_date > timezone.localdate():
        errors["end_date"] = [f"The stop date {end_date.isoformat()} is in the future."]
    if stop_reason not in StopReason.values:
        errors["stop_reason"] = ["Choose a stop reason."]
    if course.end_date is not None:
        errors["end_date"] = [f"This course already ended on {course.end_date.isoformat()}."]
    if end_date and DoseChange.objects.filter(course=course, effective_date__gt=end_date).exists():
        errors.setdefault("end_date", []).append("A dose change is recorded after this stop date.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        current = TreatmentCourse.objects.select_for_update().get(pk=course.pk)
        _check_version(current, expected_version, ["end_date", "stop_reason", "tapered"])
        before = snapshot(current)
        current.end_date, current.stop_reason, current.tapered = end_date, stop_reason, tapered
        current.version += 1
        current.save()
        audit_record(
            user=by,
            action="update",
            obj=current,
            patient=current.patient,
            changes=diff(before, snapshot(current)),
            reason=f"stopped: {stop_reason}" + (f"; {reason.strip()}" if (reason or "").strip() else ""),
        )
        patient_mark_for_evaluation(current.patient)
    return current
