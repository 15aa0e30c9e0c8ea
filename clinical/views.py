"""Clinician screens: patient list, chart, visits, labs and treatment courses.

Thin views: every patient object comes through ``registry.access`` (another site's
record is a 404; write pages fetch with ``write=True``, so researchers get a 404 too),
every write goes through ``clinical.services``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from clinical import catalogue, selectors, services
from clinical import forms as f
from clinical.models import LabResult, TreatmentCourse, Visit
from registry import access
from registry.audit import audit_record
from registry.models import AuditEvent

PAGE_SIZE = 50
ALERTS_PANEL = "clinical/alerts/_panel.html"


def _n(d: Decimal) -> str:
    """A Decimal as plain text without trailing zeros (never "1E+1")."""
    return format(Decimal(d).normalize(), "f")


def _chart_url(patient) -> str:
    return reverse("patient-chart", args=[patient.public_id])


# --- list -------------------------------------------------------------------------------


def _filters(request: HttpRequest) -> selectors.PatientFilters:
    g = request.GET
    subtype = g.get("subtype", "")
    return selectors.PatientFilters(
        q=g.get("q", "").strip()[:100],
        subtype=subtype if subtype in catalogue.SUBTYPES else "",
        site=g.get("site", "").strip()[:16],
        metreleptin=g.get("metreleptin") == "1",
        alerts=g.get("alerts") == "1",
        sort=g.get("sort", "registry_code"),
    )


@login_required
@require_GET
def patient_list(request: HttpRequest) -> HttpResponse:
    filt = _filters(request)
    qs = selectors.patient_list(user=request.user, filters=filt)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = selectors.patient_rows(user=request.user, patients=list(page.object_list))
    keep = request.GET.copy()
    keep.pop("page", None)
    sort_params = request.GET.copy()
    sort_params.pop("page", None)
    sort_params.pop("sort", None)
    return render(
        request,
        "clinical/patient_list.html",
        {
            "page": page,
            "rows": rows,
            "filters": filt,
            "query_keep": keep.urlencode(),
            "sort_base": sort_params.urlencode(),
            "subtypes": catalogue.SUBTYPE_CHOICES,
            "can_write": access.can_write(request.user),
            "lab_names": [catalogue.ANALYTES[a].name for a in selectors.LIST_ANALYTES],
        },
    )


# --- chart ------------------------------------------------------------------------------


def _alerts_panel() -> str | None:
    """The alerts partial when it exists (it is built with the alert engine)."""
    try:
        get_template(ALERTS_PANEL)
    except TemplateDoesNotExist:
        return None
    return ALERTS_PANEL


def _open_alerts(patient):
    try:
        from clinical.alert_selectors import patient_open_alerts
    except ImportError:
        from clinical.models import AlertStatus

        return list(patient.alerts.filter(status=AlertStatus.OPEN))
    return patient_open_alerts(patient=patient)


@login_required
@require_GET
def patient_chart(request: HttpRequest, public_id) -> HttpResponse:
    patient = access.patient_for_user(request.user, public_id)
    chart = selectors.patient_chart(user=request.user, patient=patient)
    audit_record(user=request.user, action=AuditEvent.Action.VIEW, obj=patient, patient=patient)
    return render(
        request,
        "clinical/patient_chart.html",
        {
            "patient": patient,
            "chart": chart,
            "can_write": access.can_write(request.user, patient),
            "alerts": _open_alerts(patient),
            "alerts_panel": _alerts_panel(),
            "subtypes": catalogue.SUBTYPES,
        },
    )


@login_required
@require_GET
def patient_history(request: HttpRequest, public_id) -> HttpResponse:
    patient = access.patient_for_user(request.user, public_id)
    if not access.can_see_identity(request.user, patient):
        raise Http404("No such patient.")  # the trail holds identity values
    page = Paginator(selectors.patient_history(patient=patient), 100).get_page(request.GET.get("page"))
    return render(request, "clinical/patient_history.html", {"patient": patient, "page": page})


LAB_PAGE_SIZE = 50


@login_required
@require_GET
def patient_labs(request: HttpRequest, public_id) -> HttpResponse:
    """Every lab result of the patient, filtered by analyte and date range, paginated,
    in the user's units with flags and the value as reported."""
    patient = access.patient_for_user(request.user, public_id)
    audit_record(user=request.user, action=AuditEvent.Action.VIEW, obj=patient, patient=patient)
    filt = f.LabFilterForm(request.GET or None)
    d = filt.cleaned_data if filt.is_bound and filt.is_valid() else {}
    qs = selectors.patient_labs(
        patient=patient, analyte=d.get("analyte") or "", date_from=d.get("date_from"), date_to=d.get("date_to")
    )
    page = Paginator(qs, LAB_PAGE_SIZE).get_page(request.GET.get("page"))
    system = request.user.unit_system
    rows = [(r, selectors.flags.show_lab(r, sex=patient.sex, system=system)) for r in page.object_list]
    keep = request.GET.copy()
    keep.pop("page", None)
    return render(
        request,
        "clinical/patient_labs.html",
        {
            "patient": patient,
            "filters": filt,
            "page": page,
            "rows": rows,
            "query_keep": keep.urlencode(),
            "can_write": access.can_write(request.user, patient),
            "filter_errors": f.error_list(filt) if filt.is_bound else [],
        },
    )


# --- visits -----------------------------------------------------------------------------


def _rows(formset) -> list[tuple[int, Any]]:
    """(service index, form) for the non-blank rows of a valid formset."""
    kept = [form for form in formset.forms if not form.is_blank()]
    return list(enumerate(kept))


def _apply_row_errors(exc: ValidationError, key: str, rows: list[tuple[int, Any]], field: str | None = None) -> dict:
    """Move ``<key>.<i>[.<field>]`` service errors onto row i's form; returns the rest."""
    rest: dict[str, list[str]] = {}
    by_index = dict(rows)
    for k, msgs in exc.message_dict.items():
        parts = k.split(".")
        if parts[0] != key or len(parts) < 2 or not parts[1].isdigit():
            rest[k] = msgs
            continue
        form = by_index.get(int(parts[1]))
        name = parts[2] if len(parts) > 2 else field
        if form is None:
            rest[k] = msgs
            continue
        target = name if name in form.fields else field
        if target and form.errors.get(target):
            continue  # the input could not be parsed: its own error says so
        form.add_error(target, msgs)
    return rest


def _lab_entry(d: dict[str, Any]) -> services.LabEntry:
    return services.LabEntry(
        analyte=d.get("analyte", ""),
        value=d.get("value", ""),
        unit=d.get("unit", ""),
        collected_on=d.get("collected_on"),
        fasting=f.fasting_value(d.get("fasting", "")),
        reference_low=d.get("reference_low") or None,
        reference_high=d.get("reference_high") or None,
    )


def _fold_pairs(rows) -> list[tuple[str, Any]]:
    return [(r.cleaned_data.get("site", ""), r.cleaned_data.get("mm", "")) for _, r in rows]


def _finding_pairs(rows) -> list[tuple[str, bool]]:
    return [
        (f.hpo_from_text(r.cleaned_data.get("term", "")), r.cleaned_data.get("status") == "excluded") for _, r in rows
    ]


def _visit_errors(exc: ValidationError, form, lab_rows, fold_rows, finding_rows) -> None:
    """Service errors next to their inputs; an input that already shows a parse error
    keeps that one (the service saw it as blank)."""
    skip_parsed = {k for k in exc.message_dict if k in form.fields and form.errors.get(k)}
    rest = {k: v for k, v in exc.message_dict.items() if k not in skip_parsed}
    rest = _apply_row_errors(ValidationError(rest), "labs", lab_rows) if rest else {}
    rest = _apply_row_errors(ValidationError(rest), "skinfolds", fold_rows, "mm") if rest else {}
    rest = _apply_row_errors(ValidationError(rest), "phenotypes", finding_rows, "term") if rest else {}
    if rest:
        f.apply_errors(form, ValidationError(rest))


@login_required
@require_http_methods(["GET", "POST"])
def visit_new(request: HttpRequest, public_id) -> HttpResponse:
    patient = access.patient_for_user(request.user, public_id, write=True)
    sites = access.sites_for_user(request.user, write=True)
    data = request.POST if request.method == "POST" else None
    today = timezone.localdate()
    form = f.VisitForm(data, sites=sites, initial={"visit_date": today, "site": patient.home_site.code})
    labs = f.LabFormSet(data, prefix="labs")
    folds = f.SkinfoldFormSet(data, prefix="skinfolds")
    findings = f.PhenotypeFormSet(data, prefix="phenotypes")
    if request.method == "POST":
        valid = all([form.is_valid(), labs.is_valid(), folds.is_valid(), findings.is_valid()])
        if labs.management_form.is_valid() and folds.management_form.is_valid() and findings.management_form.is_valid():
            lab_rows, fold_rows, finding_rows = _rows(labs), _rows(folds), _rows(findings)
            try:
                # Inputs that could not be parsed (an unreadable date...) already carry
                # their error: the service still checks everything else, writing nothing.
                visit = services.visit_record(
                    patient=patient,
                    by=request.user,
                    site=form.cleaned_data.get("site") or patient.home_site,
                    labs=[_lab_entry(r.cleaned_data) for _, r in lab_rows],
                    skinfolds=_fold_pairs(fold_rows),
                    phenotypes=_finding_pairs(finding_rows),
                    validate_only=not valid,
                    **form.visit_fields(),
                )
            except ValidationError as exc:
                _visit_errors(exc, form, lab_rows, fold_rows, finding_rows)
            else:
                if visit is not None:
                    n = visit.lab_results.count()
                    messages.success(request, f"Visit of {visit.visit_date:%d %b %Y} saved with {n} lab result(s).")
                    return redirect(_chart_url(patient))
    return render(
        request,
        "clinical/visit_form.html",
        {
            "patient": patient,
            "form": form,
            "labs": labs,
            "skinfolds": folds,
            "phenotypes": findings,
            "unit_map": f.unit_map(),
            "hpo_options": [f.hpo_option(c) for c in catalogue.HPO_TERMS],
            "forms_with_errors": f.error_list(
                form, labs, folds, findings, row_names={"labs": "Lab", "skinfolds": "Skinfold", "phenotypes": "Finding"}
            ),
        },
    )


def _conflict(obj, exc: services.ConflictError, mine: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """What changed since the user loaded the record: the audit rows of the newer
    versions, and the saved values next to what the user typed."""
    newer = max(int(exc.current.get("version", 0)) - int(mine.get("version") or 0), 1)
    events = list(
        AuditEvent.objects.filter(model=obj._meta.label, object_id=str(obj.public_id), action=AuditEvent.Action.UPDATE)
        .select_related("user")
        .order_by("-at", "-id")[:newer]
    )
    rows = []
    for name, label in labels.items():
        saved = exc.current.get(name)
        yours = mine.get(name)
        saved_text = "" if saved in (None, "") else str(saved)
        yours_text = "" if yours in (None, "") else str(yours)
        if isinstance(yours, Decimal) or (yours_text and saved_text):
            try:
                same = Decimal(saved_text) == Decimal(yours_text)
            except ArithmeticError:  # not numbers (dates, text): compare as typed
                same = saved_text == yours_text
        else:
            same = saved_text == yours_text
        rows.append({"label": label, "saved": saved_text, "yours": yours_text, "differs": not same})
    return {"message": str(exc), "events": events, "rows": rows}


VISIT_INITIAL_SKIP = {"version", "change_reason"}


def _visit_initial(visit: Visit) -> dict[str, Any]:
    data = {n: getattr(visit, n) for n in f.VisitFieldsForm.base_fields}
    data = {k: _n(v) if isinstance(v, Decimal) else v for k, v in data.items()}  # 65.9, not 65.90
    data["version"] = visit.version
    return {k: ("" if v is None else v) for k, v in data.items()}


def _visit_parts_initial(visit: Visit) -> tuple[list[dict], list[dict]]:
    folds = [{"site": s.site, "mm": _n(s.mm)} for s in visit.skinfolds.all()]
    found = [
        {
            "term": f.hpo_option(p.hpo_id) if p.hpo_id in catalogue.HPO_TERMS else p.hpo_id,
            "status": "excluded" if p.excluded else "present",
        }
        for p in visit.phenotypes.all()
    ]
    return folds, found


@login_required
@require_http_methods(["GET", "POST"])
def visit_edit(request: HttpRequest, public_id) -> HttpResponse:
    """The visit's own fields, its skinfolds and its HPO findings, with a reason; one
    service call (one transaction, one audit row), refused on a stale version."""
    visit = access.visit_for_user(request.user, public_id, write=True)
    patient = visit.patient
    conflict = None
    data = request.POST if request.method == "POST" else None
    fold_init, found_init = _visit_parts_initial(visit)
    form = f.VisitEditForm(data, initial=_visit_initial(visit))
    folds = f.SkinfoldFormSet(data, prefix="skinfolds", initial=fold_init)
    findings = f.PhenotypeFormSet(data, prefix="phenotypes", initial=found_init)
    if data is not None:
        # A post without a formset (an older page) leaves those rows as they are.
        sent_folds, sent_findings = "skinfolds-TOTAL_FORMS" in data, "phenotypes-TOTAL_FORMS" in data
        valid = all([form.is_valid(), not sent_folds or folds.is_valid(), not sent_findings or findings.is_valid()])
        if valid:
            d = form.cleaned_data
            fold_rows = _rows(folds) if sent_folds else []
            finding_rows = _rows(findings) if sent_findings else []
            try:
                services.visit_update(
                    visit=visit,
                    by=request.user,
                    reason=d.get("change_reason", ""),
                    expected_version=d["version"],
                    skinfolds=_fold_pairs(fold_rows) if sent_folds else None,
                    phenotypes=_finding_pairs(finding_rows) if sent_findings else None,
                    **form.visit_fields(),
                )
            except services.ConflictError as exc:
                labels = {n: str(fl.label) for n, fl in f.VisitFieldsForm.base_fields.items()}
                conflict = _conflict(visit, exc, {**form.visit_fields(), "version": d["version"]}, labels)
                visit.refresh_from_db()
                fold_init, found_init = _visit_parts_initial(visit)
                form = f.VisitEditForm(initial=_visit_initial(visit))
                folds = f.SkinfoldFormSet(prefix="skinfolds", initial=fold_init)
                findings = f.PhenotypeFormSet(prefix="phenotypes", initial=found_init)
            except ValidationError as exc:
                _visit_errors(exc, form, [], fold_rows, finding_rows)
            else:
                messages.success(request, "Visit updated.")
                return redirect(_chart_url(patient))
    return render(
        request,
        "clinical/visit_edit.html",
        {
            "patient": patient,
            "visit": visit,
            "form": form,
            "skinfolds": folds,
            "phenotypes": findings,
            "hpo_options": [f.hpo_option(c) for c in catalogue.HPO_TERMS],
            "conflict": conflict,
            "forms_with_errors": f.error_list(
                form,
                *([folds] if data is None or "skinfolds-TOTAL_FORMS" in data else []),
                *([findings] if data is None or "phenotypes-TOTAL_FORMS" in data else []),
                row_names={"skinfolds": "Skinfold", "phenotypes": "Finding"},
            ),
        },
    )


# --- labs -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def lab_new(request: HttpRequest, public_id) -> HttpResponse:
    patient = access.patient_for_user(request.user, public_id, write=True)
    form = f.LabForm(request.POST or None, initial={"collected_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            services.lab_result_record(patient=patient, by=request.user, **form.service_kwargs())
        except ValidationError as exc:
            f.apply_errors(form, exc)
        else:
            messages.success(request, "Lab result saved.")
            return redirect(_chart_url(patient))
    return render(
        request,
        "clinical/lab_form.html",
        {
            "patient": patient,
            "form": form,
            "unit_map": f.unit_map(),
            "title": "Add a lab result",
            "forms_with_errors": f.error_list(form),
        },
    )


def _lab_initial(lab: LabResult) -> dict[str, Any]:
    def txt(d):
        return "" if d is None else format(Decimal(d).normalize(), "f")

    return {
        "analyte": lab.analyte,
        "value": txt(lab.value),
        "unit": lab.unit,
        "collected_on": lab.collected_on,
        "fasting": f.fasting_raw(lab.fasting),
        "reference_low": txt(lab.reference_low),
        "reference_high": txt(lab.reference_high),
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
    conflict = None
    if request.method == "POST":
        form = f.LabEditForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            kwargs = form.service_kwargs()
            try:
                services.lab_result_update(
                    result=lab,
                    by=request.user,
                    reason=d.get("change_reason", ""),
                    expected_version=d["version"],
                    **kwargs,
                )
            except services.ConflictError as exc:
                mine = {**kwargs, "version": d["version"]}
                conflict = _conflict(lab, exc, mine, LAB_LABELS)
                lab.refresh_from_db()
                form = f.LabEditForm(initial=_lab_initial(lab))
            except ValidationError as exc:
                f.apply_errors(form, exc)
            else:
                messages.success(request, "Lab result updated.")
                return redirect(_chart_url(patient))
    else:
        form = f.LabEditForm(initial=_lab_initial(lab))
    return render(
        request,
        "clinical/lab_form.html",
        {
            "patient": patient,
            "lab": lab,
            "form": form,
            "unit_map": f.unit_map(),
            "conflict": conflict,
            "title": "Edit a lab result",
            "forms_with_errors": f.error_list(form),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def lab_delete(request: HttpRequest, public_id) -> HttpResponse:
    lab = access.lab_for_user(request.user, public_id, write=True)
    patient = lab.patient
    form = f.LabDeleteForm(request.POST or None, initial={"version": lab.version})
    conflict = None
    if request.method == "POST" and form.is_valid():
        try:
            services.lab_result_delete(
                result=lab,
                by=request.user,
                reason=form.cleaned_data.get("change_reason", ""),
                expected_version=form.cleaned_data["version"],
            )
        except services.ConflictError as exc:
            conflict = _conflict(lab, exc, {"version": form.cleaned_data["version"]}, LAB_LABELS)
            lab.refresh_from_db()
            form = f.LabDeleteForm(initial={"version": lab.version})
        except ValidationError as exc:
            f.apply_errors(form, exc)
        else:
            messages.success(request, "Lab result deleted.")
            return redirect(_chart_url(patient))
    shown = selectors.flags.show_lab(lab, sex=patient.sex, system=request.user.unit_system)
    return render(
        request,
        "clinical/lab_delete.html",
        {
            "patient": patient,
            "lab": lab,
            "shown": shown,
            "form": form,
            "conflict": conflict,
            "forms_with_errors": f.error_list(form),
        },
    )


# --- treatment courses ------------------------------------------------------------------


def _suggestion(patient):
    """Metreleptin starting dose from the label table at the latest weight and sex."""
    weight = services.latest_weight_kg(patient, timezone.localdate())
    if not weight:
        return None, None
    return weight, catalogue.metreleptin_start_dose(weight, patient.sex)


@login_required
@require_http_methods(["GET", "POST"])
def course_new(request: HttpRequest, public_id) -> HttpResponse:
    patient = access.patient_for_user(request.user, public_id, write=True)
    weight, suggestion = _suggestion(patient)
    drug = request.GET.get("drug", "metreleptin")
    if drug not in catalogue.DRUGS:
        drug = "metreleptin"
    initial: dict[str, Any] = {
        "drug": drug,
        "start_date": timezone.localdate(),
        "dose_unit": catalogue.DRUGS[drug].units[0],
    }
    if drug == "metreleptin" and suggestion:
        initial["dose"] = format(suggestion.mg.normalize(), "f")
    form = f.CourseStartForm(request.POST or None, initial=initial)
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
            f.apply_errors(form, exc)
        else:
            dose = course.doses.first()
            messages.success(
                request, f"{catalogue.DRUGS[course.drug].name} started at {_n(dose.dose)} {dose.dose_unit}."
            )
            w = services.latest_weight_kg(patient, course.start_date)
            if course.drug == "metreleptin" and w and catalogue.metreleptin_above_max(dose.dose, w):
                messages.warning(request, _above_max_text(dose.dose, w))
            return redirect(_chart_url(patient))
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
            "forms_with_errors": f.error_list(form),
        },
    )


def _max_mg(weight: Decimal | None) -> Decimal | None:
    if not weight:
        return None
    row = catalogue.metreleptin_label_row(weight, "male")
    return (row.maximum * weight if row.per_kg else row.maximum).quantize(Decimal("0.01"))


def _above_max_text(dose: Decimal, weight: Decimal) -> str:
    return (
        f"Warning: metreleptin {_n(dose)} mg/day is above the label maximum "
        f"({_n(_max_mg(weight))} mg/day at {_n(weight)} kg). Saved as entered; check the dose."
    )


def _course(request, public_id) -> TreatmentCourse:
    return access.course_for_user(request.user, public_id, write=True)


@login_required
@require_http_methods(["GET", "POST"])
def dose_new(request: HttpRequest, public_id) -> HttpResponse:
    course = _course(request, public_id)
    patient = course.patient
    drug = catalogue.DRUGS[course.drug]
    form = f.DoseChangeForm(
        request.POST or None, initial={"effective_date": timezone.localdate(), "dose_unit": drug.units[0]}
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
            f.apply_errors(form, exc)
        else:
            messages.success(request, f"Dose changed to {_n(change.dose)} {change.dose_unit}.")
            w = services.latest_weight_kg(patient, change.effective_date)
            if course.drug == "metreleptin" and w and catalogue.metreleptin_above_max(change.dose, w):
                messages.warning(request, _above_max_text(change.dose, w))
            return redirect(_chart_url(patient))
    weight = services.latest_weight_kg(patient, timezone.localdate())
    return render(
        request,
        "clinical/dose_form.html",
        {
            "patient": patient,
            "course": course,
            "drug": drug,
            "form": form,
            "weight": weight,
            "max_mg": _max_mg(weight) if course.drug == "metreleptin" else None,
            "forms_with_errors": f.error_list(form),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def course_stop(request: HttpRequest, public_id) -> HttpResponse:
    course = _course(request, public_id)
    patient = course.patient
    form = f.CourseStopForm(request.POST or None, initial={"end_date": timezone.localdate(), "version": course.version})
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
            form = f.CourseStopForm(initial={"end_date": d.get("end_date"), "version": exc.current.get("version")})
            form.add_error(None, str(exc))
        except ValidationError as exc:
            f.apply_errors(form, exc)
        else:
            messages.success(request, f"{catalogue.DRUGS[course.drug].name} stopped.")
            return redirect(_chart_url(patient))
    return render(
        request,
        "clinical/course_stop.html",
        {
            "patient": patient,
            "course": course,
            "drug": catalogue.DRUGS[course.drug],
            "form": form,
            "forms_with_errors": f.error_list(form),
        },
    )
