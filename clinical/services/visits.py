"""Visits: the visit's own measurements with its skinfolds, HPO findings and lab panel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from clinical import catalogue, formatting
from clinical.models import LabResult, Skinfold, Source, Visit
from clinical.services.labs import ValidatedLab, lab_fields, lab_validate
from clinical.services.numbers import parse_decimal
from clinical.services.outbox import patient_mark_for_evaluation
from registry import audit_chain
from registry.audit import diff, snapshot
from registry.models import Patient, PhenotypeObservation
from registry.writekit import actor, audit_created, check_date, check_version, reason_errors, save_correction

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
    check_date(
        errors,
        "visit_date",
        fields.get("visit_date"),
        label="The visit date",
        required="The visit date is required.",
        today=today,
    )
    for name, (key, label, unit) in _VISIT_LIMIT_KEYS.items():
        raw = fields.get(name)
        number = parse_decimal(raw, name, errors, label)
        if number is None:
            clean[name] = None
            continue
        limits = catalogue.VITAL_LIMITS[key]
        if not limits.contains(number):
            errors.setdefault(name, []).append(
                f"{label} {formatting.typed(number)} {unit} is implausible: accepted range {formatting.typed(limits.low)}-{formatting.typed(limits.high)} {unit}."
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
    confirm_unusual: bool = False  # a unit-suspect value confirmed as entered (RULES.md 5)


def _check_skinfolds(skinfolds: Iterable[tuple[str, Any]], errors: dict[str, list[str]]) -> list[tuple[str, Decimal]]:
    """Validated (site, mm) pairs; errors keyed ``skinfolds.<i>``."""
    folds: list[tuple[str, Decimal]] = []
    sites_seen: set[str] = set()
    valid_sites = dict(catalogue.SKINFOLD_SITES)
    limits = catalogue.VITAL_LIMITS["skinfold_mm"]
    for i, (fold_site, mm) in enumerate(skinfolds):
        number = parse_decimal(mm, f"skinfolds.{i}", errors, "Skinfold")
        if fold_site not in valid_sites:
            errors[f"skinfolds.{i}"] = [f"Unknown skinfold site {fold_site!r}."]
        elif fold_site in sites_seen:
            errors[f"skinfolds.{i}"] = [f"{valid_sites[fold_site]} is entered twice."]
        elif number is None:
            errors.setdefault(f"skinfolds.{i}", []).append("Give the skinfold thickness in mm.")
        elif not limits.contains(number):
            errors[f"skinfolds.{i}"] = [
                f"Skinfold {formatting.typed(number)} mm is implausible: accepted range {formatting.typed(limits.low)}-{formatting.typed(limits.high)} mm."
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
    today = patient.today()
    try:
        clean = visit_validate(fields, today=today)
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
                        today=today,
                        confirm_unusual=entry.confirm_unusual,
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
    user = actor(by)
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
                    **lab_fields(v),
                )
                for entry, v in validated
            ]
        )
        audit_created(visit, by=by, patient=patient)
        for r in results:
            audit_created(r, by=by, patient=patient)
        patient_mark_for_evaluation(patient)
    return visit


def _visit_parts(visit: Visit) -> tuple[list[str], list[str]]:
    """The visit's skinfolds and HPO findings as audit text (sorted, comparable)."""
    folds = sorted(f"{s.site} {formatting.typed(s.mm)} mm" for s in visit.skinfolds.all())
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
    errors.update(reason_errors(reason))
    reason = (reason or "").strip()
    folds = _check_skinfolds(skinfolds, errors) if skinfolds is not None else None
    findings = _check_phenotypes(phenotypes, errors) if phenotypes is not None else None
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        current = Visit.objects.select_for_update().get(pk=visit.pk)
        check_version(current, expected_version, VISIT_FIELDS)
        merged = {k: fields.get(k, getattr(current, k)) for k in VISIT_FIELDS}
        try:
            clean = visit_validate(merged, today=current.patient.today())
        except ValidationError as exc:
            errors = {**exc.message_dict, **errors}
        if errors:
            raise ValidationError(errors)
        before = snapshot(current)
        folds_before, found_before = _visit_parts(current)
        for k, val in clean.items():
            setattr(current, k, val)
        changes = diff(before, snapshot(current))
        folds_after = folds_before if folds is None else sorted(f"{s} {formatting.typed(mm)} mm" for s, mm in folds)
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
        save_correction(current, by=by, patient=current.patient, changes=changes, reason=reason)
        patient_mark_for_evaluation(current.patient)
    return current
