"""A patient's lab page, and adding, correcting and deleting one lab result."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from clinical import flags, formatting, forms, selectors, services
from clinical.models import LabResult
from clinical.selectors import imports as import_selectors
from clinical.views.common import back_to_chart, conflict_panel, query_keep, versioned_write
from registry import access
from registry.audit import audit_record
from registry.models import AuditEvent

LAB_PAGE_SIZE = 50


@login_required
@require_GET
def patient_labs(request: HttpRequest, public_id) -> HttpResponse:
    """Every lab result of the patient, filtered by analyte and date range, paginated,
    in the user's units with flags and the value as reported."""
    patient = access.patient_for_user(request.user, public_id)
    audit_record(user=request.user, action=AuditEvent.Action.VIEW, obj=patient, patient=patient)
    filt = forms.LabFilterForm(request.GET or None)
    d = filt.cleaned_data if filt.is_bound and filt.is_valid() else {}
    qs = selectors.patient_labs(
        patient=patient, analyte=d.get("analyte") or "", date_from=d.get("date_from"), date_to=d.get("date_to")
    )
    page = Paginator(qs, LAB_PAGE_SIZE).get_page(request.GET.get("page"))
    system = request.user.unit_system
    rows = [(r, flags.show_lab(r, sex=patient.sex, system=system)) for r in page.object_list]
    return render(
        request,
        "clinical/patient_labs.html",
        {
            "patient": patient,
            "filters": filt,
            "page": page,
            "rows": rows,
            "query_keep": query_keep(request),
            "can_write": access.can_write(request.user, patient),
            "filter_errors": forms.error_list(filt) if filt.is_bound else [],
        },
    )


def _slip_choice(request: HttpRequest):
    """The POST data and the confirmation after the "Did you mean ...?" question: the
    other unit chosen (the unit replaced) or the value kept as entered (confirmed)."""
    if request.method != "POST":
        return None, False
    choice = request.POST.get("slip", "")
    if choice == "switch" and request.POST.get("slip_unit"):
        data = request.POST.copy()
        data["unit"] = request.POST["slip_unit"]
        return data, False
    return request.POST, choice == "keep"


def _slip_question(exc: services.UnitSuspect, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        "question": exc.question,
        "alt_unit": exc.alternative.unit,
        "as_entered": f"{kwargs.get('value')} {kwargs.get('unit')}",
    }


@login_required
@require_http_methods(["GET", "POST"])
def lab_new(request: HttpRequest, public_id) -> HttpResponse:
    patient = access.patient_for_user(request.user, public_id, write=True)
    data, confirmed = _slip_choice(request)
    form = forms.LabForm(data, initial={"collected_on": patient.today()})
    slip = None
    if request.method == "POST" and form.is_valid():
        kwargs = form.service_kwargs()
        try:
            services.lab_result_record(patient=patient, by=request.user, confirm_unusual=confirmed, **kwargs)
        except services.UnitSuspect as exc:
            slip = _slip_question(exc, kwargs)
        except ValidationError as exc:
            forms.apply_errors(form, exc)
        else:
            return back_to_chart(request, patient, "Lab result saved.")
    return render(
        request,
        "clinical/lab_form.html",
        {
            "patient": patient,
            "form": form,
            "unit_map": forms.unit_map(),
            "title": "Add a lab result",
            "slip": slip,
            "forms_with_errors": forms.error_list(form),
        },
    )


def _lab_initial(lab: LabResult) -> dict[str, Any]:
    def text(d):
        return "" if d is None else formatting.plain(d)

    return {
        "analyte": lab.analyte,
        "value": text(lab.value),
        "unit": lab.unit,
        "collected_on": lab.collected_on,
        "fasting": forms.fasting_raw(lab.fasting),
        "reference_low": text(lab.reference_low),
        "reference_high": text(lab.reference_high),
        "version": lab.version,
    }


LAB_LABELS = {
    "analyte": "Analyte",
    "value": "Value",
    "unit": "Unit",
    "collected_on": "Collection date",
    "fasting": "Fasting",
    "reference_low": "Lab reference low",
    "reference_high": "Lab reference high",
}


@login_required
@require_http_methods(["GET", "POST"])
def lab_edit(request: HttpRequest, public_id) -> HttpResponse:
    lab = access.lab_for_user(request.user, public_id, write=True)
    patient = lab.patient
    conflict = slip = None
    if request.method == "POST":
        data, confirmed = _slip_choice(request)
        form = forms.LabEditForm(data)
        if form.is_valid():
            d = form.cleaned_data
            kwargs = form.service_kwargs()
            try:
                services.lab_result_update(
                    result=lab,
                    by=request.user,
                    reason=d.get("change_reason", ""),
                    expected_version=d["version"],
                    confirm_unusual=confirmed,
                    **kwargs,
                )
            except services.UnitSuspect as exc:
                slip = _slip_question(exc, kwargs)
            except services.ConflictError as exc:
                mine = {**kwargs, "version": d["version"]}
                conflict = conflict_panel(lab, exc, mine, LAB_LABELS)
                lab = access.lab_for_user(request.user, public_id, write=True)  # as saved now
                form = forms.LabEditForm(initial=_lab_initial(lab))
            except ValidationError as exc:
                forms.apply_errors(form, exc)
            else:
                return back_to_chart(request, patient, "Lab result updated.")
    else:
        form = forms.LabEditForm(initial=_lab_initial(lab))
    return render(
        request,
        "clinical/lab_form.html",
        {
            "patient": patient,
            "lab": lab,
            "form": form,
            "slip": slip,
            "unit_map": forms.unit_map(),
            "conflict": conflict,
            "title": "Edit a lab result",
            "forms_with_errors": forms.error_list(form),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def lab_delete(request: HttpRequest, public_id) -> HttpResponse:
    lab = access.lab_for_user(request.user, public_id, write=True)
    patient = lab.patient
    result = versioned_write(
        request,
        form=forms.LabDeleteForm(request.POST or None, initial={"version": lab.version}),
        record=lab,
        patient=patient,
        labels=LAB_LABELS,
        save=lambda d: services.lab_result_delete(
            result=lab, by=request.user, reason=d.get("change_reason", ""), expected_version=d["version"]
        ),
        mine=lambda d: {"version": d["version"]},
        reload=lambda: access.lab_for_user(request.user, public_id, write=True),
        fresh_form=lambda saved: forms.LabDeleteForm(initial={"version": saved.version}),
        done_message="Lab result deleted.",
    )
    if result.done:
        return result.done
    lab = result.record
    return render(
        request,
        "clinical/lab_delete.html",
        {
            "patient": patient,
            "lab": lab,
            "shown": flags.show_lab(lab, sex=patient.sex, system=request.user.unit_system),
            "form": result.form,
            "conflict": result.conflict,
            "forms_with_errors": forms.error_list(result.form),
        },
    )


@login_required
@require_GET
def lab_detail(request: HttpRequest, public_id) -> HttpResponse:
    """One result, read only: where an alert's evidence link leads (correcting it is a
    deliberate second step, never the first page an alert opens)."""
    lab = access.lab_for_user(request.user, public_id)
    patient = lab.patient
    audit_record(user=request.user, action=AuditEvent.Action.VIEW, obj=lab, patient=patient)
    return render(
        request,
        "clinical/lab_detail.html",
        {
            "patient": patient,
            "lab": lab,
            "shown": flags.show_lab(lab, sex=patient.sex, system=request.user.unit_system),
            "can_write": access.can_write(request.user, patient),
            "provenance": import_selectors.lab_provenance(lab=lab),
        },
    )
