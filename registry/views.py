"""Registry screens: home, health, profile (unit preference) and patient registration."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinical import catalogue
from clinical.forms import apply_errors, error_list, hpo_from_text, hpo_option
from registry import access, selectors
from registry import services as registry_services
from registry.forms import (
    ConsentForm,
    ConsentWithdrawForm,
    DiagnosisForm,
    GeneticFindingForm,
    GeneticFormSet,
    PatientRegisterForm,
    PhenotypeForm,
    ProfileForm,
)
from registry.validators import validate_gene_symbol, validate_hgvs_c, validate_hgvs_p


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("login")
    return redirect("patient-list")


# --- profile ----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Preferences saved.")
        return redirect("profile")
    memberships = access.memberships_of(request.user)
    return render(
        request,
        "registry/profile.html",
        {"form": form, "memberships": memberships, "forms_with_errors": error_list(form)},
    )


@login_required
@require_POST
def unit_switch(request: HttpRequest) -> HttpResponse:
    """The header's unit switch: store the preference and go back where the user was."""
    system = request.POST.get("unit_system", "")
    if system in catalogue.UNIT_SYSTEMS and system != request.user.unit_system:
        request.user.unit_system = system
        request.user.save(update_fields=["unit_system"])
    nxt = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        nxt = reverse("patient-list")
    return redirect(nxt)


# --- registration -----------------------------------------------------------------------

_GENETIC_CHECKS = (("gene", validate_gene_symbol), ("hgvs_c", validate_hgvs_c), ("hgvs_p", validate_hgvs_p))


def _genetic_errors(rows) -> bool:
    """Check each non-blank finding with the registry's validators; errors go next to the
    field. True when a row has an error."""
    bad = False
    for form in rows:
        for name, check in _GENETIC_CHECKS:
            try:
                check((form.cleaned_data.get(name) or "").strip())
            except ValidationError as exc:
                form.add_error(name, exc.messages)
                bad = True
    return bad


def _possible_duplicates(request: HttpRequest, form) -> list:
    """Patients the user may see who may be the one being registered (name and birth
    date rules in ``registry.duplicates``)."""
    d = form.cleaned_data
    if not d.get("birth_date") or not d.get("family_name"):
        return []
    return selectors.possible_duplicates(
        user=request.user,
        family_name=d["family_name"],
        given_name=d.get("given_name", ""),
        sex=d.get("sex") or "",
        birth_date=d["birth_date"],
    )


@login_required
@require_http_methods(["GET", "POST"])
def patient_register(request: HttpRequest) -> HttpResponse:
    sites = access.sites_for_user(request.user, write=True)
    if not access.can_write(request.user):
        raise PermissionDenied("Your role cannot register patients.")
    data = request.POST if request.method == "POST" else None
    first_site = sites.order_by("code").first()
    form = PatientRegisterForm(data, sites=sites, initial={"site": first_site.code if first_site else None})
    genetics = GeneticFormSet(data, prefix="genetics")
    if request.method == "POST":
        valid = form.is_valid() & genetics.is_valid()
        rows = [g for g in genetics.forms if g.is_valid() and not g.is_blank()] if genetics.is_valid() else []
        duplicates = _possible_duplicates(request, form) if valid else []
        confirmed = request.POST.get("confirm_not_duplicate") == "1"
        if duplicates and not confirmed:
            return render(
                request,
                "registry/patient_register.html",
                {"form": form, "genetics": genetics, "duplicates": duplicates, "forms_with_errors": []},
            )
        if valid and not _genetic_errors(rows):
            try:
                with transaction.atomic():
                    patient = registry_services.patient_register(
                        by=request.user,
                        confirmed_not_duplicate_of=[p.registry_code for p, _ in duplicates],
                        **form.service_kwargs(),
                    )
                    for g in rows:
                        d = g.cleaned_data
                        registry_services.genetic_finding_add(
                            patient=patient,
                            by=request.user,
                            gene=d["gene"],
                            hgvs_c=d["hgvs_c"],
                            hgvs_p=d.get("hgvs_p", ""),
                            transcript=d.get("transcript", ""),
                            zygosity=d["zygosity"],
                            acmg_class=d["acmg_class"],
                        )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, f"Patient {patient.registry_code} registered.")
                return redirect("patient-chart", public_id=patient.public_id)
    return render(
        request,
        "registry/patient_register.html",
        {
            "form": form,
            "genetics": genetics,
            "forms_with_errors": error_list(form, genetics, row_names={"genetics": "Genetic finding"}),
        },
    )


# --- additions to the record, reached from the chart ------------------------------------


def _record_add(request, public_id, *, form_class, save, title: str, done: str, initial=None, extra=None):
    """A small form adding one row to a patient's record through a registry service.
    Another site's patient, or a role that cannot write there, is a 404."""
    patient = access.patient_for_user(request.user, public_id, write=True)
    form = form_class(request.POST or None, initial=initial or {})
    if request.method == "POST" and form.is_valid():
        try:
            save(patient, form)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, done)
            return redirect("patient-chart", public_id=patient.public_id)
    return render(
        request,
        "registry/record_form.html",
        {"patient": patient, "form": form, "title": title, "forms_with_errors": error_list(form), **(extra or {})},
    )


@login_required
@require_http_methods(["GET", "POST"])
def diagnosis_new(request: HttpRequest, public_id) -> HttpResponse:
    def save(patient, form):
        registry_services.diagnosis_add(patient=patient, by=request.user, **form.service_kwargs())

    return _record_add(
        request, public_id, form_class=DiagnosisForm, save=save, title="Add a diagnosis", done="Diagnosis added."
    )


@login_required
@require_http_methods(["GET", "POST"])
def genetic_new(request: HttpRequest, public_id) -> HttpResponse:
    def save(patient, form):
        registry_services.genetic_finding_add(patient=patient, by=request.user, **form.service_kwargs())

    return _record_add(
        request,
        public_id,
        form_class=GeneticFindingForm,
        save=save,
        title="Add a genetic finding",
        done="Genetic finding added.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def phenotype_new(request: HttpRequest, public_id) -> HttpResponse:
    def save(patient, form):
        d = form.cleaned_data
        registry_services.phenotype_record(
            patient=patient,
            hpo_id=hpo_from_text(d.get("hpo_id", "")),
            excluded=d.get("status") == "excluded",
            observed_on=d.get("observed_on"),
            by=request.user,
        )

    return _record_add(
        request,
        public_id,
        form_class=PhenotypeForm,
        save=save,
        title="Add a phenotype finding",
        done="Phenotype finding added.",
        initial={"observed_on": timezone.localdate()},
        extra={"hpo_options": [hpo_option(c) for c in catalogue.HPO_TERMS]},
    )


@login_required
@require_http_methods(["GET", "POST"])
def consent_page(request: HttpRequest, public_id) -> HttpResponse:
    """Consent history with two forms: a new consent (or new form version) and withdrawal."""
    patient = access.patient_for_user(request.user, public_id, write=True)
    action = request.POST.get("action") if request.method == "POST" else None
    today = timezone.localdate()
    form = ConsentForm(request.POST if action == "new" else None, initial={"consented_on": today}, prefix="new")
    withdraw = ConsentWithdrawForm(
        request.POST if action == "withdraw" else None, initial={"withdrawn_on": today}, prefix="withdraw"
    )
    bound = form if action == "new" else withdraw if action == "withdraw" else None
    if bound is not None and bound.is_valid():
        try:
            if bound is form:
                registry_services.consent_record(patient=patient, by=request.user, **form.service_kwargs())
            else:
                registry_services.consent_withdraw(
                    patient=patient, withdrawn_on=withdraw.cleaned_data.get("withdrawn_on"), by=request.user
                )
        except ValidationError as exc:
            apply_errors(bound, exc)
        else:
            messages.success(request, "Consent recorded." if bound is form else "Consent withdrawn.")
            return redirect("patient-chart", public_id=patient.public_id)
    history = selectors.consent_history(patient=patient)
    in_force = history[0] if history and history[0].withdrawn_on is None else None
    return render(
        request,
        "registry/consent.html",
        {
            "patient": patient,
            "form": form,
            "withdraw": withdraw,
            "history": history,
            "in_force": in_force,
            "forms_with_errors": error_list(bound) if bound is not None else [],
        },
    )
