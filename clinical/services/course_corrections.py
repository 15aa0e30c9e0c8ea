"""Corrections of treatment courses and dose changes, and their deletion when entered in
error (RULES.md 5, "Corrections of courses").

Like lab corrections: a reason is required, the stored version must be the one the user
edited (``ConflictError`` otherwise), every change leaves an audit row, and the patient is
evaluated again so that alerts, baselines and the response class follow the corrected
record (alerts are never deleted: evaluation withdraws what it no longer finds).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from clinical import catalogue
from clinical.models import DoseChange, StopReason, TreatmentCourse
from clinical.services.outbox import patient_mark_for_evaluation
from clinical.services.treatments import _overlapping, dose_date_errors, dose_validate, latest_weight_kg
from registry import audit_chain
from registry.audit import audit_record, diff, snapshot
from registry.models import Patient
from registry.writekit import check_date, check_version, require_reason, save_correction

COURSE_EDITABLE = ["start_date", "end_date", "stop_reason", "tapered", "notes"]
DOSE_EDITABLE = ["effective_date", "dose", "dose_unit", "reason"]


def dose_clash_error(day: dt.date) -> ValidationError:
    """The one message for a second dose on a course's date (also for two identical
    changes saved at the same moment: the unique constraint settles the race)."""
    return ValidationError(
        {"effective_date": [f"A dose is already recorded from {day.isoformat()}; change that entry instead."]}
    )


def _course_errors(
    course: TreatmentCourse, merged: dict[str, Any], today: dt.date, doses: list[DoseChange]
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    start, end = merged["start_date"], merged["end_date"]
    check_date(errors, "start_date", start, label="The start date", required="The start date is required.", today=today)
    if end is not None and start is not None and end < start:
        errors.setdefault("end_date", []).append("The end date is before the start date.")
    else:
        check_date(errors, "end_date", end, label="The end date", earliest=None, today=today)
    if merged["stop_reason"] and end is None:
        errors.setdefault("stop_reason", []).append("A stop reason needs an end date.")
    if merged["stop_reason"] and merged["stop_reason"] not in StopReason.values:
        errors.setdefault("stop_reason", []).append("Choose a stop reason from the list.")
    if start is not None and not errors:
        first = doses[0] if doses else None
        for d in doses:
            # The starting dose moves with a corrected start date; later ones must fit.
            day = (
                start
                if first is not None and d.pk == first.pk and d.effective_date == course.start_date
                else d.effective_date
            )
            if day < start:
                errors.setdefault("start_date", []).append(
                    f"A dose change is recorded on {d.effective_date.isoformat()}, before this start date; "
                    "correct or delete it first."
                )
            if end is not None and day > end:
                errors.setdefault("end_date", []).append(
                    f"A dose change is recorded on {d.effective_date.isoformat()}, after this end date; "
                    "correct or delete it first."
                )
    return errors


def course_update(
    *, course: TreatmentCourse, by, reason: str, expected_version: int | None, **fields: Any
) -> TreatmentCourse:
    """Correct a course's start, end, stop reason, taper flag or notes (reason required;
    stale version refused). The starting dose moves with a corrected start date."""
    reason = require_reason(reason)
    unknown = set(fields) - set(COURSE_EDITABLE)
    if unknown:
        raise ValidationError({k: ["This field cannot be changed."] for k in sorted(unknown)})
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        Patient.objects.select_for_update().filter(pk=course.patient_id).first()  # serialise course writes
        current = TreatmentCourse.objects.select_for_update().select_related("patient__home_site").get(pk=course.pk)
        check_version(current, expected_version, COURSE_EDITABLE, noun="treatment course")
        merged = {k: fields.get(k, getattr(current, k)) for k in COURSE_EDITABLE}
        if merged["end_date"] is None:
            merged["stop_reason"], merged["tapered"] = "", False
        doses = list(DoseChange.objects.select_for_update().filter(course=current).order_by("effective_date", "id"))
        errors = _course_errors(current, merged, current.patient.today(), doses)
        if not errors:
            clash = _overlapping(
                current.patient, current.drug, merged["start_date"], merged["end_date"], exclude_pk=current.pk
            )
            if clash is not None:
                until = clash.end_date.isoformat() if clash.end_date else "ongoing"
                errors["start_date"] = [
                    f"Overlaps the {catalogue.DRUGS[current.drug].name} course from "
                    f"{clash.start_date.isoformat()} ({until})."
                ]
        if errors:
            raise ValidationError(errors)
        before = snapshot(current)
        old_start = current.start_date
        for k, v in merged.items():
            setattr(current, k, v)
        changes = diff(before, snapshot(current))
        if not changes:
            return current
        save_correction(current, by=by, patient=current.patient, changes=changes, reason=reason)
        if doses and doses[0].effective_date == old_start and current.start_date != old_start:
            first = doses[0]
            first_before = snapshot(first)
            first.effective_date = current.start_date
            try:
                with transaction.atomic():
                    save_correction(
                        first,
                        by=by,
                        patient=current.patient,
                        changes=diff(first_before, snapshot(first)),
                        reason=f"starting dose follows the corrected course start; {reason}",
                    )
            except IntegrityError:
                raise ValidationError(
                    {"start_date": ["Another dose change is recorded on this date; correct or delete it first."]}
                ) from None
        patient_mark_for_evaluation(current.patient)
    return current


def course_delete(*, course: TreatmentCourse, by, reason: str, expected_version: int | None) -> None:
    """Delete a course entered in error, with its doses (each audited). Its alerts stay
    (withdrawn by the next evaluation, with this reason)."""
    reason = require_reason(reason)
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        current = TreatmentCourse.objects.select_for_update().select_related("patient").get(pk=course.pk)
        check_version(current, expected_version, COURSE_EDITABLE, noun="treatment course")
        patient = current.patient
        for d in current.doses.order_by("effective_date", "id"):
            audit_record(user=by, action="delete", obj=d, patient=patient, changes=diff(snapshot(d), {}), reason=reason)
        audit_record(
            user=by, action="delete", obj=current, patient=patient, changes=diff(snapshot(current), {}), reason=reason
        )
        current.delete()
        patient_mark_for_evaluation(patient)


def dose_update(*, change: DoseChange, by, reason: str, expected_version: int | None, **fields: Any) -> DoseChange:
    """Correct a dose change's date, dose, unit or note (reason required; stale version
    refused; the date must stay within the course and free). The dose change's own note
    (the model's ``reason`` field) is passed as ``note``: ``reason`` is the reason for
    this correction."""
    change_reason = require_reason(reason)
    if "note" in fields:
        fields["reason"] = fields.pop("note")
    unknown = set(fields) - set(DOSE_EDITABLE)
    if unknown:
        raise ValidationError({k: ["This field cannot be changed."] for k in sorted(unknown)})
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        current = DoseChange.objects.select_for_update().select_related("course__patient__home_site").get(pk=change.pk)
        check_version(current, expected_version, DOSE_EDITABLE, noun="dose change")
        course = current.course
        merged = {k: fields.get(k, getattr(current, k)) for k in DOSE_EDITABLE}
        day = merged["effective_date"]
        errors = dose_date_errors(course, day)
        weight = latest_weight_kg(course.patient, day) if day else None
        try:
            number = dose_validate(
                drug=course.drug, dose=merged["dose"], dose_unit=merged["dose_unit"], weight_kg=weight
            )
        except ValidationError as exc:
            errors.update(exc.message_dict)
            number = None
        if errors:
            raise ValidationError(errors)
        before = snapshot(current)
        current.effective_date, current.dose, current.dose_unit = day, number, merged["dose_unit"]
        current.reason = (merged["reason"] or "")[:200]
        changes = diff(before, snapshot(current))
        if not changes:
            return current
        try:
            with transaction.atomic():
                save_correction(current, by=by, patient=course.patient, changes=changes, reason=change_reason)
        except IntegrityError:
            raise dose_clash_error(day) from None
        patient_mark_for_evaluation(course.patient)
    return current


def dose_delete(*, change: DoseChange, by, reason: str, expected_version: int | None) -> None:
    """Delete a dose change entered in error. A course keeps at least one dose: delete
    the course itself when its only dose was wrong."""
    reason = require_reason(reason)
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        current = DoseChange.objects.select_for_update().select_related("course__patient").get(pk=change.pk)
        check_version(current, expected_version, DOSE_EDITABLE, noun="dose change")
        course = current.course
        if not DoseChange.objects.filter(course=course).exclude(pk=current.pk).exists():
            raise ValidationError(
                {
                    "dose": [
                        "This is the course's only dose: correct it, or delete the course if it was entered in error."
                    ]
                }
            )
        audit_record(
            user=by,
            action="delete",
            obj=current,
            patient=course.patient,
            changes=diff(snapshot(current), {}),
            reason=reason,
        )
        current.delete()
        patient_mark_for_evaluation(course.patient)
