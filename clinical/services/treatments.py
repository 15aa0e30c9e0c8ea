"""Treatment courses: start, dose changes and stop, with the dose plausibility checks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from clinical import catalogue, formatting
from clinical.dates import human_date
from clinical.models import DoseChange, Source, StopReason, TreatmentCourse, Visit
from clinical.services.numbers import parse_decimal
from clinical.services.outbox import patient_mark_for_evaluation
from registry import audit_chain
from registry.audit import diff, snapshot
from registry.models import Patient
from registry.writekit import actor, audit_created, check_date, check_version, save_correction


def latest_weight_kg(patient: Patient, on_or_before: dt.date) -> Decimal | None:
    """Latest visit weight on or before a date (the label's 'weight at start')."""
    return (
        Visit.objects.filter(patient=patient, visit_date__lte=on_or_before, weight_kg__isnull=False)
        .order_by("-visit_date", "-id")
        .values_list("weight_kg", flat=True)
        .first()
    )


def weight_for_dose_kg(patient: Patient, day: dt.date) -> tuple[Decimal | None, bool]:
    """(kg, weighed after the day?): the latest weight on or before ``day``, else the
    first within 30 days after it (RULES.md 5), else (None, False)."""
    before = latest_weight_kg(patient, day)
    if before:
        return before, False
    after = (
        Visit.objects.filter(
            patient=patient,
            visit_date__gt=day,
            visit_date__lte=day + dt.timedelta(days=catalogue.METRELEPTIN_WEIGHT_FALLBACK_DAYS),
            weight_kg__gt=0,
        )
        .order_by("visit_date", "id")
        .values_list("weight_kg", flat=True)
        .first()
    )
    return after, after is not None


def label_warning(*, patient: Patient, drug: str, dose: Decimal, dose_unit: str, on: dt.date) -> str:
    """The server's verdict on a metreleptin dose against the label maximum, computed with
    Decimal at the weight the alert rule uses ("" when within the label). The dose is
    recorded either way; this is what the form and the API show beside it."""
    if drug != "metreleptin" or dose_unit != "mg/day":
        return ""
    weight, after = weight_for_dose_kg(patient, on)
    limit = catalogue.metreleptin_max_mg(weight) if weight else catalogue.METRELEPTIN_LABEL["male"].maximum
    if Decimal(dose) <= limit:
        return ""
    if weight:
        at = f" at {formatting.plain(weight)} kg" + (" (weighed after the dose: no earlier weight)" if after else "")
    else:
        at = " (no weight recorded: only the 10 mg/day maximum checked)"
    return (
        f"Metreleptin {formatting.plain(Decimal(dose))} mg/day is above the label maximum of "
        f"{formatting.format_number(limit, 2)} mg/day{at}. Recorded as entered; check the dose."
    )


def dose_validate(*, drug: str, dose: Any, dose_unit: str, weight_kg: Decimal | None = None) -> Decimal:
    errors: dict[str, list[str]] = {}
    info = catalogue.DRUGS.get(drug)
    if info is None:
        raise ValidationError({"drug": [f"Unknown drug {drug!r}; known drugs: {', '.join(catalogue.DRUGS)}."]})
    number = parse_decimal(dose, "dose", errors, "Dose")
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
                f"{info.name} {formatting.typed(number)} {dose_unit} is implausible (above {formatting.typed(hard)} {dose_unit})."
            )
        if drug == "metreleptin" and weight_kg:
            cap = catalogue.METRELEPTIN_HARD_MAX_MG_PER_KG * Decimal(weight_kg)
            if number > cap:
                errors.setdefault("dose", []).append(
                    f"Metreleptin {formatting.typed(number)} mg/day is {formatting.typed(number / Decimal(weight_kg))} mg/kg/day, above the "
                    f"plausible {catalogue.METRELEPTIN_HARD_MAX_MG_PER_KG} mg/kg/day ({formatting.typed(cap)} mg/day at {formatting.typed(Decimal(weight_kg))} kg)."
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
    today = patient.today()
    check_date(
        errors, "start_date", start_date, label="The start date", required="The start date is required.", today=today
    )
    if end_date is not None and start_date is not None and end_date < start_date:
        errors["end_date"] = ["The end date is before the start date."]
    else:
        check_date(errors, "end_date", end_date, label="The end date", earliest=None, today=today)
    if stop_reason and end_date is None:
        errors["stop_reason"] = ["A stop reason needs an end date."]
    weight = latest_weight_kg(patient, start_date) if start_date else None
    try:
        number = dose_validate(drug=drug, dose=dose, dose_unit=dose_unit, weight_kg=weight)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    user = actor(by)
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        Patient.objects.select_for_update().filter(pk=patient.pk).first()  # serialise course writes per patient
        clash = _overlapping(patient, drug, start_date, end_date)
        if clash is not None:
            until = human_date(clash.end_date) if clash.end_date else "ongoing"
            raise ValidationError(
                {
                    "start_date": [
                        f"Overlaps the {catalogue.DRUGS[drug].name} course from {human_date(clash.start_date)} ({until}); "
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
        audit_created(course, by=by, patient=patient)
        audit_created(first, by=by, patient=patient)
        patient_mark_for_evaluation(patient)
    return course


def dose_date_errors(course: TreatmentCourse, day: dt.date | None) -> dict[str, list[str]]:
    """What is wrong with ``day`` as a dose change's date in ``course`` (a new one or a
    correction): required, within the course, not in the future."""
    errors: dict[str, list[str]] = {}
    if day is not None and day < course.start_date:
        errors["effective_date"] = [f"The dose change is before the course start ({human_date(course.start_date)})."]
    elif day is not None and course.end_date and day > course.end_date:
        errors["effective_date"] = [f"The dose change is after the course ended ({human_date(course.end_date)})."]
    else:
        check_date(
            errors,
            "effective_date",
            day,
            label="The date",
            required="The date of the dose change is required.",
            earliest=None,
            today=course.patient.today(),
        )
    return errors


def dose_change_record(
    *, course: TreatmentCourse, effective_date: dt.date, dose: Any, dose_unit: str, by, reason: str = ""
) -> DoseChange:
    errors = dose_date_errors(course, effective_date)
    weight = latest_weight_kg(course.patient, effective_date) if effective_date else None
    try:
        number = dose_validate(drug=course.drug, dose=dose, dose_unit=dose_unit, weight_kg=weight)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if not errors and DoseChange.objects.filter(course=course, effective_date=effective_date).exists():
        errors["effective_date"] = [
            f"A dose is already recorded from {human_date(effective_date)}; change that entry instead."
        ]
    if errors:
        raise ValidationError(errors)
    user = actor(by)
    with transaction.atomic():
        try:
            with transaction.atomic():
                change = DoseChange.objects.create(
                    course=course,
                    effective_date=effective_date,
                    dose=number,
                    dose_unit=dose_unit,
                    reason=reason,
                    created_by=user,
                )
        except IntegrityError:
            # Two identical changes saved at once: the unique (course, date) constraint
            # lets one through; the other gets the message of a sequential duplicate.
            raise ValidationError(
                {
                    "effective_date": [
                        f"A dose is already recorded from {effective_date.isoformat()}; change that entry instead."
                    ]
                }
            ) from None
        audit_created(change, by=by, patient=course.patient)
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
    errors: dict[str, list[str]] = {}
    if end_date is not None and end_date < course.start_date:
        errors["end_date"] = [f"The stop date is before the course start ({human_date(course.start_date)})."]
    else:
        check_date(
            errors,
            "end_date",
            end_date,
            label="The stop date",
            required="The stop date is required.",
            earliest=None,
            today=course.patient.today(),
        )
    if stop_reason not in StopReason.values:
        errors["stop_reason"] = ["Choose a stop reason."]
    if course.end_date is not None:
        errors["end_date"] = [f"This course already ended on {human_date(course.end_date)}."]
    if end_date and DoseChange.objects.filter(course=course, effective_date__gt=end_date).exists():
        errors.setdefault("end_date", []).append("A dose change is recorded after this stop date.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        current = TreatmentCourse.objects.select_for_update().get(pk=course.pk)
        check_version(current, expected_version, ["end_date", "stop_reason", "tapered"])
        before = snapshot(current)
        current.end_date, current.stop_reason, current.tapered = end_date, stop_reason, tapered
        save_correction(
            current,
            by=by,
            patient=current.patient,
            changes=diff(before, snapshot(current)),
            reason=f"stopped: {stop_reason}" + (f"; {reason.strip()}" if (reason or "").strip() else ""),
        )
        patient_mark_for_evaluation(current.patient)
    return current
