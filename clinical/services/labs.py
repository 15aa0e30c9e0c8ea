"""Lab results: validate against the catalogue, record, correct and delete."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from clinical import catalogue, formatting, unit_slips
from clinical.models import LabResult, Source, Visit
from clinical.services.numbers import parse_decimal
from clinical.services.outbox import patient_mark_for_evaluation
from registry import audit_chain
from registry.audit import audit_record, diff, snapshot
from registry.models import Patient
from registry.writekit import actor, audit_created, check_date, check_version, require_reason, save_correction

VALUE_DECIMALS = 6
CANONICAL_QUANTUM = Decimal("1e-10")

# The reference columns hold 12 digits before the decimal point (DecimalField 18, 6).
REFERENCE_LIMIT_CEILING = Decimal(10) ** 12


class UnitSuspect(ValidationError):
    """A value that looks typed against the wrong unit (RULES.md 5): not refused, but it
    needs an explicit confirmation (``confirm_unusual``). The API answers 400 with the
    code ``unit_suspect`` and the alternative."""

    def __init__(self, analyte: str, value: Decimal, unit: str, alternative: unit_slips.Alternative):
        info = catalogue.ANALYTES[analyte]
        self.alternative = alternative
        self.question = f"Did you mean {alternative.text(analyte)}?"
        self.api_extra = {
            "code": "unit_suspect",
            "alternative": {
                "value": formatting.plain(alternative.value),
                "unit": alternative.unit,
                "canonical_value": formatting.plain(alternative.canonical),
                "canonical_unit": info.canonical_unit,
            },
            "confirm_with": {"confirm_unusual": True},
        }
        super().__init__(
            {
                "value": [
                    f"{info.name} {formatting.typed(value)} {unit} is unusually high for this unit. "
                    f"{self.question} Choose that unit, or confirm the value as entered."
                ]
            }
        )


@dataclass(frozen=True)
class ValidatedLab:
    analyte: catalogue.Analyte
    value: Decimal
    unit: str  # the accepted spelling
    canonical: Decimal
    reference_low: Decimal | None
    reference_high: Decimal | None


def lab_validate(
    *,
    analyte: str,
    value: Any,
    unit: str,
    collected_on: dt.date | None,
    reference_low: Any = None,
    reference_high: Any = None,
    today: dt.date | None = None,
    confirm_unusual: bool = False,
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
    number = parse_decimal(value, "value", errors, f"{info.name} value")
    if number is None and "value" not in errors:
        errors["value"] = [f"{info.name} needs a value."]
    ref_low = parse_decimal(reference_low, "reference_low", errors, "Reference low")
    ref_high = parse_decimal(reference_high, "reference_high", errors, "Reference high")
    if ref_low is not None and ref_high is not None and ref_low > ref_high:
        errors.setdefault("reference_high", []).append("The reference range's upper limit is below its lower limit.")
    for name, ref in (("reference_low", ref_low), ("reference_high", ref_high)):
        if ref is not None and ref < 0:
            errors.setdefault(name, []).append("A reference limit cannot be negative.")
        elif ref is not None and ref >= REFERENCE_LIMIT_CEILING:
            errors.setdefault(name, []).append("A reference limit must be below 1000000000000.")
    check_date(
        errors,
        "collected_on",
        collected_on,
        label="The collection date",
        required="The collection date is required.",
        today=today,
    )
    canonical = None
    if conv is not None and number is not None:
        if number.as_tuple().exponent < -VALUE_DECIMALS:  # type: ignore[operator]
            errors.setdefault("value", []).append(f"Give the value with at most {VALUE_DECIMALS} decimals.")
        canonical = conv.to_canonical(number)
        if number < 0 or not info.hard_limits.contains(canonical):
            limits = info.limits_in(conv.unit)
            other = unit_slips.plausible_elsewhere(info.code, number, conv.unit) if number >= 0 else None
            hint = f" Did you mean {formatting.typed(number)} {other.unit}?" if other is not None else ""
            errors.setdefault("value", []).append(
                f"{info.name} {formatting.typed(number)} {conv.unit} is implausible: accepted range "
                f"{formatting.format_limit(limits.low, analyte=info.code, unit=conv.unit)}-"
                f"{formatting.format_limit(limits.high, analyte=info.code, unit=conv.unit)} {conv.unit}.{hint}"
            )
    if errors:
        raise ValidationError(errors)
    if not confirm_unusual:
        suspect = unit_slips.unit_suspect(info.code, number, conv.unit)  # type: ignore[arg-type,union-attr]
        if suspect is not None:
            raise UnitSuspect(info.code, number, conv.unit, suspect)  # type: ignore[arg-type,union-attr]
    assert conv is not None and number is not None and canonical is not None
    return ValidatedLab(info, number, conv.unit, canonical.quantize(CANONICAL_QUANTUM), ref_low, ref_high)


def lab_fields(v: ValidatedLab) -> dict[str, Any]:
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
    confirm_unusual: bool = False,
) -> LabResult:
    """Record one lab result (validated, converted, audited, evaluated on commit). A
    unit-suspect value raises :class:`UnitSuspect` unless ``confirm_unusual``."""
    v = lab_validate(
        analyte=analyte,
        value=value,
        unit=unit,
        collected_on=collected_on,
        reference_low=reference_low,
        reference_high=reference_high,
        today=patient.today(),
        confirm_unusual=confirm_unusual,
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
            created_by=actor(by),
            **lab_fields(v),
        )
        audit_created(result, by=by, patient=patient)
        patient_mark_for_evaluation(patient)
    return result


LAB_EDITABLE = ["analyte", "value", "unit", "collected_on", "fasting", "reference_low", "reference_high"]


def lab_result_update(
    *,
    result: LabResult,
    by,
    reason: str,
    expected_version: int | None,
    confirm_unusual: bool = False,
    **fields: Any,
) -> LabResult:
    """Edit a lab result; needs a reason; refuses a stale version (ConflictError)."""
    reason = require_reason(reason)
    unknown = set(fields) - set(LAB_EDITABLE)
    if unknown:
        raise ValidationError({k: ["This field cannot be changed."] for k in sorted(unknown)})
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        current = LabResult.objects.select_for_update().get(pk=result.pk)
        check_version(current, expected_version, LAB_EDITABLE)
        merged = {k: fields.get(k, getattr(current, k)) for k in LAB_EDITABLE}
        v = lab_validate(
            analyte=merged["analyte"],
            value=merged["value"],
            unit=merged["unit"],
            collected_on=merged["collected_on"],
            reference_low=merged["reference_low"],
            reference_high=merged["reference_high"],
            today=current.patient.today(),
            # only a changed value or unit asks again; an unchanged one was confirmed
            confirm_unusual=confirm_unusual or (merged["value"] == current.value and merged["unit"] == current.unit),
        )
        before = snapshot(current)
        for k, val in lab_fields(v).items():
            setattr(current, k, val)
        current.collected_on = merged["collected_on"]
        current.fasting = merged["fasting"]
        changes = diff(before, snapshot(current))
        if not changes:
            return current
        save_correction(current, by=by, patient=current.patient, changes=changes, reason=reason)
        patient_mark_for_evaluation(current.patient)
    return current


def lab_result_delete(*, result: LabResult, by, reason: str, expected_version: int | None = None) -> None:
    reason = require_reason(reason)
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        current = LabResult.objects.select_for_update().get(pk=result.pk)
        check_version(current, expected_version, LAB_EDITABLE)
        patient = current.patient
        audit_record(
            user=by, action="delete", obj=current, patient=patient, changes=diff(snapshot(current), {}), reason=reason
        )
        current.delete()
        patient_mark_for_evaluation(patient)
