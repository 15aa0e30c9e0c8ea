"""Corrections of treatment courses and dose changes, and their deletion when entered in
error: one screen each, reason required, the version the user loaded checked (the
conflict panel shows what changed meanwhile)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from clinical import catalogue, forms, services
from clinical.views.common import back_to_chart, conflict_panel
from registry import access

COURSE_LABELS = {
    "start_date": "Start date",
    "end_date": "End date",
    "stop_reason": "Stop reason",
    "tapered": "Tapered",
    "notes": "Notes",
}
DOSE_LABELS = {"effective_date": "Dose from", "dose": "Daily dose", "dose_unit": "Unit", "reason": "Note"}


def _course_initial(course) -> dict[str, Any]:
    return {
        "version": course.version,
        "start_date": course.start_date,
        "end_date": course.end_date,
        "stop_reason": course.stop_reason,
        "tapered": course.tapered,
        "notes": course.notes,
    }


@login_required
@require_http_methods(["GET", "POST"])
def course_edit(request: HttpRequest, public_id) -> HttpResponse:
    course = access.course_for_user(request.user, public_id, write=True)
    patient = course.patient
    form = forms.CourseEditForm(request.POST or None, initial=_course_initial(course))
    conflict = None
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        fields = {k: d.get(k) for k in COURSE_LABELS}
        fields["stop_reason"] = fields["stop_reason"] or ""
        fields["notes"] = fields["notes"] or ""
        fields["tapered"] = bool(fields["tapered"])
        try:
            services.course_update(
                course=course,
                by=request.user,
                reason=d.get("change_reason", ""),
                expected_version=d["version"],
                **fields,
            )
        except services.ConflictError as exc:
            conflict = conflict_panel(course, exc, {**fields, "version": d["version"]}, COURSE_LABELS)
            course = access.course_for_user(request.user, public_id, write=True)
            form = forms.CourseEditForm(initial=_course_initial(course))
        except ValidationError as exc:
            forms.apply_errors(form, exc)
        else:
            return back_to_chart(request, patient, f"{catalogue.DRUGS[course.drug].name} course corrected.")
    return render(
        request,
        "clinical/course_edit.html",
        {
            "patient": patient,
            "course": course,
            "drug": catalogue.DRUGS[course.drug],
            "form": form,
            "conflict": conflict,
            "forms_with_errors": forms.error_list(form),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def course_delete(request: HttpRequest, public_id) -> HttpResponse:
    course = access.course_for_user(request.user, public_id, write=True)
    patient = course.patient
    form = forms.RecordDeleteForm(request.POST or None, initial={"version": course.version})
    conflict = None
    if request.method == "POST" and form.is_valid():
        try:
            services.course_delete(
                course=course,
                by=request.user,
                reason=form.cleaned_data.get("change_reason", ""),
                expected_version=form.cleaned_data["version"],
            )
        except services.ConflictError as exc:
            conflict = conflict_panel(course, exc, {"version": form.cleaned_data["version"]}, COURSE_LABELS)
            course = access.course_for_user(request.user, public_id, write=True)
            form = forms.RecordDeleteForm(initial={"version": course.version})
        except ValidationError as exc:
            forms.apply_errors(form, exc)
        else:
            return back_to_chart(request, patient, "Treatment course deleted.")
    return render(
        request,
        "clinical/record_delete.html",
        {
            "patient": patient,
            "title": f"Delete {catalogue.DRUGS[course.drug].name} course",
            "what": f"{catalogue.DRUGS[course.drug].name} from {course.start_date.isoformat()}"
            + (f" to {course.end_date.isoformat()}" if course.end_date else " (ongoing)")
            + ", with its dose history",
            "button": "Delete course",
            "form": form,
            "conflict": conflict,
            "forms_with_errors": forms.error_list(form),
        },
    )


def _dose_initial(dose) -> dict[str, Any]:
    return {
        "version": dose.version,
        "effective_date": dose.effective_date,
        "dose": dose.dose.normalize(),
        "dose_unit": dose.dose_unit,
        "reason": dose.reason,
    }


@login_required
@require_http_methods(["GET", "POST"])
def dose_edit(request: HttpRequest, public_id) -> HttpResponse:
    dose = access.dose_for_user(request.user, public_id, write=True)
    course, patient = dose.course, dose.course.patient
    form = forms.DoseEditForm(request.POST or None, initial=_dose_initial(dose))
    conflict = None
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        fields = {k: d.get(k) for k in DOSE_LABELS}
        fields["reason"] = fields["reason"] or ""
        try:
            services.dose_update(
                change=dose, by=request.user, reason=d.get("change_reason", ""), expected_version=d["version"], **fields
            )
        except services.ConflictError as exc:
            conflict = conflict_panel(dose, exc, {**fields, "version": d["version"]}, DOSE_LABELS)
            dose = access.dose_for_user(request.user, public_id, write=True)
            form = forms.DoseEditForm(initial=_dose_initial(dose))
        except ValidationError as exc:
            forms.apply_errors(form, exc)
        else:
            return back_to_chart(request, patient, "Dose change corrected.")
    return render(
        request,
        "clinical/dose_edit.html",
        {
            "patient": patient,
            "course": course,
            "drug": catalogue.DRUGS[course.drug],
            "form": form,
            "conflict": conflict,
            "forms_with_errors": forms.error_list(form),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def dose_delete(request: HttpRequest, public_id) -> HttpResponse:
    dose = access.dose_for_user(request.user, public_id, write=True)
    course, patient = dose.course, dose.course.patient
    form = forms.RecordDeleteForm(request.POST or None, initial={"version": dose.version})
    conflict = None
    if request.method == "POST" and form.is_valid():
        try:
            services.dose_delete(
                change=dose,
                by=request.user,
                reason=form.cleaned_data.get("change_reason", ""),
                expected_version=form.cleaned_data["version"],
            )
        except services.ConflictError as exc:
            conflict = conflict_panel(dose, exc, {"version": form.cleaned_data["version"]}, DOSE_LABELS)
            dose = access.dose_for_user(request.user, public_id, write=True)
            form = forms.RecordDeleteForm(initial={"version": dose.version})
        except ValidationError as exc:
            forms.apply_errors(form, exc)
        else:
            return back_to_chart(request, patient, "Dose change deleted.")
    return render(
        request,
        "clinical/record_delete.html",
        {
            "patient": patient,
            "title": "Delete dose change",
            "what": f"{catalogue.DRUGS[course.drug].name} {dose.dose.normalize()} {dose.dose_unit} "
            f"from {dose.effective_date.isoformat()}",
            "button": "Delete dose change",
            "form": form,
            "conflict": conflict,
            "forms_with_errors": forms.error_list(form),
        },
    )
