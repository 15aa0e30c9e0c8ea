"""Recording a visit (with its lab panel, skinfolds and HPO findings) and correcting one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from clinical import catalogue, formatting, forms, selectors, services, visit_checks
from clinical.models import Visit
from clinical.views.common import back_to_chart, conflict_panel
from registry import access


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
        fasting=forms.fasting_value(d.get("fasting", "")),
        reference_low=d.get("reference_low") or None,
        reference_high=d.get("reference_high") or None,
    )


def _fold_pairs(rows) -> list[tuple[str, Any]]:
    return [(r.cleaned_data.get("site", ""), r.cleaned_data.get("mm", "")) for _, r in rows]


def _finding_pairs(rows) -> list[tuple[str, bool]]:
    return [
        (forms.hpo_from_text(r.cleaned_data.get("term", "")), r.cleaned_data.get("status") == "excluded")
        for _, r in rows
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
        forms.apply_errors(form, ValidationError(rest))


@login_required
@require_http_methods(["GET", "POST"])
def visit_new(request: HttpRequest, public_id) -> HttpResponse:
    patient = access.patient_for_user(request.user, public_id, write=True)
    sites = access.sites_for_user(request.user, write=True)
    data = request.POST if request.method == "POST" else None
    today = timezone.localdate()
    last_height = selectors.last_height(patient=patient)
    initial = {"visit_date": today, "site": patient.home_site.code}
    if last_height is not None:
        initial["height_cm"] = formatting.plain(last_height[1])  # adults: usually unchanged
    form = forms.VisitForm(data, sites=sites, initial=initial)
    labs = forms.LabFormSet(data, prefix="labs")
    folds = forms.SkinfoldFormSet(data, prefix="skinfolds")
    findings = forms.PhenotypeFormSet(data, prefix="phenotypes")
    if request.method == "POST":
        valid = all([form.is_valid(), labs.is_valid(), folds.is_valid(), findings.is_valid()])
        height_check = visit_checks.height_needs_confirmation(
            height_cm=form.cleaned_data.get("height_cm") if form.is_valid() else None,
            last=last_height,
            birth_year=patient.birth_year,
            visit_date=form.cleaned_data.get("visit_date") if form.is_valid() else None,
        )
        if height_check and request.POST.get("confirm_height") != "1":
            form.add_error("height_cm", height_check)
            valid = False
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
                    n = selectors.visit_lab_count(visit=visit)
                    return back_to_chart(
                        request, patient, f"Visit of {visit.visit_date:%d %b %Y} saved with {n} lab result(s)."
                    )
    return render(
        request,
        "clinical/visit_form.html",
        {
            "patient": patient,
            "form": form,
            "labs": labs,
            "skinfolds": folds,
            "phenotypes": findings,
            "unit_map": forms.unit_map(),
            "hpo_options": [forms.hpo_option(c) for c in catalogue.HPO_TERMS],
            "forms_with_errors": forms.error_list(
                form, labs, folds, findings, row_names={"labs": "Lab", "skinfolds": "Skinfold", "phenotypes": "Finding"}
            ),
            "ask_height": bool(request.method == "POST" and form.errors.get("height_cm") and last_height),
            "lab_panel": ",".join(catalogue.LIPODYSTROPHY_PANEL),
            "lab_panel_names": ", ".join(catalogue.ANALYTES[a].name for a in catalogue.LIPODYSTROPHY_PANEL),
        },
    )


def _visit_initial(visit: Visit) -> dict[str, Any]:
    data = {n: getattr(visit, n) for n in forms.VisitFieldsForm.base_fields}
    data = {k: formatting.plain(v) if isinstance(v, Decimal) else v for k, v in data.items()}  # 65.9, not 65.90
    data["version"] = visit.version
    return {k: ("" if v is None else v) for k, v in data.items()}


def _visit_parts_initial(visit: Visit) -> tuple[list[dict], list[dict]]:
    skinfolds, findings = selectors.visit_parts(visit=visit)
    folds = [{"site": s.site, "mm": formatting.plain(s.mm)} for s in skinfolds]
    found = [
        {
            "term": forms.hpo_option(p.hpo_id) if p.hpo_id in catalogue.HPO_TERMS else p.hpo_id,
            "status": "excluded" if p.excluded else "present",
        }
        for p in findings
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
    form = forms.VisitEditForm(data, initial=_visit_initial(visit))
    folds = forms.SkinfoldFormSet(data, prefix="skinfolds", initial=fold_init)
    findings = forms.PhenotypeFormSet(data, prefix="phenotypes", initial=found_init)
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
                labels = {n: str(fl.label) for n, fl in forms.VisitFieldsForm.base_fields.items()}
                conflict = conflict_panel(visit, exc, {**form.visit_fields(), "version": d["version"]}, labels)
                visit = access.visit_for_user(request.user, public_id, write=True)  # as saved now
                fold_init, found_init = _visit_parts_initial(visit)
                form = forms.VisitEditForm(initial=_visit_initial(visit))
                folds = forms.SkinfoldFormSet(prefix="skinfolds", initial=fold_init)
                findings = forms.PhenotypeFormSet(prefix="phenotypes", initial=found_init)
            except ValidationError as exc:
                _visit_errors(exc, form, [], fold_rows, finding_rows)
            else:
                return back_to_chart(request, patient, "Visit updated.")
    return render(
        request,
        "clinical/visit_edit.html",
        {
            "patient": patient,
            "visit": visit,
            "form": form,
            "skinfolds": folds,
            "phenotypes": findings,
            "hpo_options": [forms.hpo_option(c) for c in catalogue.HPO_TERMS],
            "conflict": conflict,
            "forms_with_errors": forms.error_list(
                form,
                *([folds] if data is None or "skinfolds-TOTAL_FORMS" in data else []),
                *([findings] if data is None or "phenotypes-TOTAL_FORMS" in data else []),
                row_names={"skinfolds": "Skinfold", "phenotypes": "Finding"},
            ),
        },
    )
