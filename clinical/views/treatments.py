"""Treatment courses: start (with the metreleptin label suggestion), dose changes, stop."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from clinical import catalogue, formatting, forms, selectors, services
from clinical.services.numbers import parse_number
from clinical.views.common import back_to_chart, chart_url
from registry import access


def _suggestion(patient, start):
    """Metreleptin starting dose from the label table at the weight on or before the
    start date (RULES.md 4) and the sex."""
    weight = services.latest_weight_kg(patient, start)
    if not weight:
        return None, None
    return weight, catalogue.metreleptin_start_dose(weight, patient.sex)


@login_required
@require_http_methods(["GET", "POST"])
def course_new(request: HttpRequest, public_id) -> HttpResponse:
    patient = access.patient_for_user(request.user, public_id, write=True)
    start = _posted_date(request, "start_date") or patient.today()
    weight, suggestion = _suggestion(patient, start)
    drug = request.GET.get("drug", "metreleptin")
    if drug not in catalogue.DRUGS:
        drug = "metreleptin"
    initial: dict[str, Any] = {
        "drug": drug,
        "start_date": patient.today(),
        "dose_unit": catalogue.DRUGS[drug].units[0],
    }
    if drug == "metreleptin" and suggestion:
        initial["dose"] = formatting.plain(suggestion.mg)
    form = forms.CourseStartForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            course = services.course_start(
                patient=patient,
                drug=d["drug"],
                start_date=d.get("start_date"),
                dose=d["dose"],
                dose_unit=d["dose_unit"],
                notes=d.get("notes", ""),
                by=request.user,
            )
        except ValidationError as exc:
            forms.apply_errors(form, exc)
        else:
            dose = selectors.course_doses(course=course).first()
            messages.success(
                request,
                f"{catalogue.DRUGS[course.drug].name} started at {formatting.plain(dose.dose)} {dose.dose_unit}.",
            )
            _warn_above_label_max(request, course=course, dose=dose.dose, on=course.start_date)
            return redirect(chart_url(patient))
    return render(
        request,
        "clinical/course_form.html",
        {
            "patient": patient,
            "form": form,
            "weight": weight,
            "suggestion": suggestion,
            "drugs": catalogue.DRUGS,
            "drug_units": {code: list(d.units) for code, d in catalogue.DRUGS.items()},
            "max_mg": _max_mg(weight),
            "dose_warning": _verdict(
                patient,
                request.POST.get("drug", ""),
                request.POST.get("dose", ""),
                request.POST.get("dose_unit", ""),
                start,
            )
            if request.method == "POST"
            else "",
            "forms_with_errors": forms.error_list(form),
        },
    )


def _posted_date(request: HttpRequest, name: str):
    """A date the form posted (the suggestion follows the start date typed), else None."""
    try:
        return dt.date.fromisoformat(request.POST.get(name, ""))
    except ValueError:
        return None


def _verdict(patient, drug: str, dose, dose_unit: str, on) -> str:
    """The server's label-maximum verdict for a dose typed on the form (Decimal)."""
    if not on:
        return ""
    try:
        number = parse_number(dose)
    except ValueError:
        return ""
    return services.label_warning(patient=patient, drug=drug, dose=number, dose_unit=dose_unit, on=on)


def _max_mg(weight: Decimal | None) -> Decimal | None:
    """The label maximum at this weight (the catalogue's rule, for any sex)."""
    if not weight:
        return None
    return catalogue.metreleptin_start_dose(weight, "male").max_mg


def _warn_above_label_max(request: HttpRequest, *, course, dose: Decimal, on) -> None:
    """A saved metreleptin dose above the label maximum at the weight of that day is kept
    as entered (the clinician decides) but flagged right away: the server's verdict."""
    text = services.label_warning(patient=course.patient, drug=course.drug, dose=dose, dose_unit="mg/day", on=on)
    if text:
        messages.warning(request, f"Warning: {text}")


@login_required
@require_http_methods(["GET", "POST"])
def dose_new(request: HttpRequest, public_id) -> HttpResponse:
    course = access.course_for_user(request.user, public_id, write=True)
    patient = course.patient
    drug = catalogue.DRUGS[course.drug]
    form = forms.DoseChangeForm(
        request.POST or None, initial={"effective_date": patient.today(), "dose_unit": drug.units[0]}
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            change = services.dose_change_record(
                course=course,
                effective_date=d.get("effective_date"),
                dose=d["dose"],
                dose_unit=d["dose_unit"],
                reason=d.get("reason", ""),
                by=request.user,
            )
        except ValidationError as exc:
            forms.apply_errors(form, exc)
        else:
            messages.success(request, f"Dose changed to {formatting.plain(change.dose)} {change.dose_unit}.")
            _warn_above_label_max(request, course=course, dose=change.dose, on=change.effective_date)
            return redirect(chart_url(patient))
    weight = services.latest_weight_kg(patient, patient.today())
    current = selectors.course_doses(course=course).last()
    on = _posted_date(request, "effective_date")
    return render(
        request,
        "clinical/dose_form.html",
        {
            "patient": patient,
            "course": course,
            "current": current,
            "current_dose": formatting.plain(current.dose) if current else "",
            "drug": drug,
            "form": form,
            "weight": weight,
            "max_mg": _max_mg(weight) if course.drug == "metreleptin" else None,
            "dose_warning": _verdict(
                patient, course.drug, request.POST.get("dose", ""), request.POST.get("dose_unit", ""), on
            )
            if request.method == "POST"
            else "",
            "forms_with_errors": forms.error_list(form),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def course_stop(request: HttpRequest, public_id) -> HttpResponse:
    course = access.course_for_user(request.user, public_id, write=True)
    patient = course.patient
    form = forms.CourseStopForm(request.POST or None, initial={"end_date": patient.today(), "version": course.version})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            services.course_stop(
                course=course,
                end_date=d.get("end_date"),
                stop_reason=d.get("stop_reason", ""),
                tapered=d.get("tapered", False),
                expected_version=d["version"],
                by=request.user,
            )
        except services.ConflictError as exc:
            form = forms.CourseStopForm(initial={"end_date": d.get("end_date"), "version": exc.current.get("version")})
            form.add_error(None, str(exc))
        except ValidationError as exc:
            forms.apply_errors(form, exc)
        else:
            return back_to_chart(request, patient, f"{catalogue.DRUGS[course.drug].name} stopped.")
    return render(
        request,
        "clinical/course_stop.html",
        {
            "patient": patient,
            "course": course,
            "drug": catalogue.DRUGS[course.drug],
            "form": form,
            "forms_with_errors": forms.error_list(form),
        },
    )
