"""Writes to the registry side of the record: patients, identity, diagnoses, genetics,
consent. Same conventions as ``clinical.services``: keyword-only, validated, one
transaction with its audit rows, ``ValidationError`` keyed by field."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from clinical import catalogue
from clinical.services.outbox import patient_mark_for_evaluation
from registry import access, audit_chain, normalize
from registry.audit import audit_record, diff, snapshot
from registry.models import (
    AcmgClass,
    Consent,
    Diagnosis,
    DiagnosisBasis,
    GeneticFinding,
    Patient,
    PatientIdentity,
    PhenotypeObservation,
    Sex,
    Site,
    VitalStatus,
    Zygosity,
)
from registry.validators import validate_gene_symbol, validate_hgvs_c, validate_hgvs_p
from registry.writekit import (
    Errors,
    actor,
    audit_created,
    check_date,
    check_version,
    reason_errors,
    require_reason,
)


def _registry_code(pk: int) -> str:
    return f"{settings.REGISTRY_CODE_PREFIX}{pk:06d}"


def _collect(errors: dict[str, list[str]], field: str, fn, value) -> None:
    try:
        fn(value)
    except ValidationError as exc:
        errors.setdefault(field, []).extend(exc.messages)


def _check_birth_date(errors: Errors, day: dt.date | None) -> None:
    check_date(
        errors,
        "birth_date",
        day,
        label="The date of birth",
        required="The date of birth is required.",
        quote_date=False,
    )


def _check_consent_date(errors: Errors, day: dt.date | None) -> None:
    check_date(
        errors,
        "consented_on",
        day,
        label="The consent date",
        required="Give the consent date.",
        quote_date=False,
        earliest=None,
    )


def diagnosis_validate(*, subtype: str, basis: str, onset_date=None, diagnosis_date=None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if subtype not in catalogue.SUBTYPES:
        errors["subtype"] = [f"Unknown subtype {subtype!r}."]
    if basis not in DiagnosisBasis.values:
        errors["basis"] = [f"Basis must be one of {', '.join(DiagnosisBasis.values)}."]
    if onset_date and diagnosis_date and diagnosis_date < onset_date:
        errors["diagnosis_date"] = ["The diagnosis date is before the onset date."]
    for name, day in (("onset_date", onset_date), ("diagnosis_date", diagnosis_date)):
        check_date(errors, name, day, earliest=None)
    return errors


def _mrn_taken(site: Site, mrn: str, *, exclude_pk: int | None = None) -> bool:
    """Whether ``mrn`` (already cleaned) is registered at ``site`` in any case or spelling."""
    qs = access.identities_at_site(site).filter(mrn_key=normalize.mrn_key(mrn))
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def patient_register(
    *,
    site: Site,
    sex: str,
    birth_date: dt.date,
    family_name: str,
    given_name: str,
    mrn: str,
    by,
    subtype: str = "",
    diagnosis_basis: str = DiagnosisBasis.CLINICAL,
    diagnosis_date: dt.date | None = None,
    onset_date: dt.date | None = None,
    vital_status: str = "alive",
    phone: str = "",
    email: str = "",
    research_consent: bool | None = None,
    consent_version: str = "",
    consented_on: dt.date | None = None,
    confirmed_not_duplicate_of: list[str] | None = None,
) -> Patient:
    """Register a patient with identity and, optionally, a first diagnosis and consent.

    ``confirmed_not_duplicate_of``: the registry codes of the possible duplicates the user
    was shown and confirmed to be other people; the confirmation is in the audit trail."""
    cleaned, errors = normalize.clean_fields(
        {"family_name": family_name, "given_name": given_name, "mrn": mrn}, normalize.IDENTITY_LABELS
    )
    family_name, given_name, mrn = cleaned["family_name"], cleaned["given_name"], cleaned["mrn"]
    for name, label in normalize.IDENTITY_LABELS.items():
        if name not in errors and not cleaned[name]:
            errors[name] = [f"The {label} is required."]
    if sex not in Sex.values:
        errors["sex"] = [f"Sex must be one of {', '.join(Sex.values)}."]
    _check_birth_date(errors, birth_date)
    if subtype:
        errors.update(
            diagnosis_validate(
                subtype=subtype, basis=diagnosis_basis, onset_date=onset_date, diagnosis_date=diagnosis_date
            )
        )
        if birth_date and diagnosis_date and diagnosis_date < birth_date:
            errors.setdefault("diagnosis_date", []).append("The diagnosis date is before the date of birth.")
    if research_consent is not None:
        if not consent_version:
            errors["consent_version"] = ["Give the consent form version."]
        _check_consent_date(errors, consented_on)
    if mrn and "mrn" not in errors and _mrn_taken(site, mrn):
        errors.setdefault("mrn", []).append(f"MRN {mrn} is already registered at {site.code}.")
    if errors:
        raise ValidationError(errors)
    user = actor(by)
    try:
        with transaction.atomic():
            patient = Patient.objects.create(
                registry_code=f"TMP-{uuid.uuid4().hex[:12]}",
                home_site=site,
                sex=sex,
                birth_year=birth_date.year,
                vital_status=vital_status,
                primary_subtype=subtype or "",
                created_by=user,
                research_consent=bool(research_consent),
            )
            patient.registry_code = _registry_code(patient.pk)
            patient.save(update_fields=["registry_code"])
            identity = PatientIdentity.objects.create(
                patient=patient,
                site=site,
                family_name=family_name,
                given_name=given_name,
                birth_date=birth_date,
                mrn=mrn,
                phone=phone,
                email=email,
            )
            confirmed = ", ".join(confirmed_not_duplicate_of or [])
            reason = f"registered after confirming this is not {confirmed} (possible duplicates)" if confirmed else ""
            audit_created(patient, by=by, patient=patient, reason=reason)
            audit_created(identity, by=by, patient=patient)
            if subtype:
                dx = Diagnosis.objects.create(
                    patient=patient,
                    subtype=subtype,
                    basis=diagnosis_basis,
                    onset_date=onset_date,
                    diagnosis_date=diagnosis_date,
                )
                audit_created(dx, by=by, patient=patient)
            if research_consent is not None:
                c = Consent.objects.create(
                    patient=patient,
                    research_use=research_consent,
                    version=consent_version,
                    consented_on=consented_on,
                    recorded_by=user,
                )
                audit_created(c, by=by, patient=patient)
    except IntegrityError as exc:
        # A concurrent registration of the same (site, MRN) won the race.
        if _mrn_taken(site, mrn):
            raise ValidationError({"mrn": [f"MRN {mrn} is already registered at {site.code}."]}) from exc
        raise
    return patient


def diagnosis_add(
    *,
    patient: Patient,
    subtype: str,
    by,
    basis: str = DiagnosisBasis.CLINICAL,
    onset_date=None,
    diagnosis_date=None,
    notes: str = "",
) -> Diagnosis:
    errors = diagnosis_validate(subtype=subtype, basis=basis, onset_date=onset_date, diagnosis_date=diagnosis_date)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        dx = Diagnosis.objects.create(
            patient=patient,
            subtype=subtype,
            basis=basis,
            onset_date=onset_date,
            diagnosis_date=diagnosis_date,
            notes=notes,
        )
        Patient.objects.filter(pk=patient.pk).update(primary_subtype=subtype)
        patient.primary_subtype = subtype
        audit_created(dx, by=by, patient=patient)
        # Any recorded subtype counts for the rules (LYMPHOMA_VIGILANCE): evaluate now,
        # not at the nightly run.
        patient_mark_for_evaluation(patient)
    return dx


def genetic_finding_add(
    *,
    patient: Patient,
    gene: str,
    hgvs_c: str,
    by,
    hgvs_p: str = "",
    transcript: str = "",
    zygosity: str = Zygosity.UNKNOWN,
    acmg_class: str = AcmgClass.VUS,
    reported_on: dt.date | None = None,
) -> GeneticFinding:
    errors: dict[str, list[str]] = {}
    gene, hgvs_c, hgvs_p = (gene or "").strip(), (hgvs_c or "").strip(), (hgvs_p or "").strip()
    _collect(errors, "gene", validate_gene_symbol, gene)
    _collect(errors, "hgvs_c", validate_hgvs_c, hgvs_c)
    _collect(errors, "hgvs_p", validate_hgvs_p, hgvs_p)
    if zygosity not in Zygosity.values:
        errors["zygosity"] = [f"Zygosity must be one of {', '.join(Zygosity.values)}."]
    if acmg_class not in AcmgClass.values:
        errors["acmg_class"] = [f"ACMG class must be one of {', '.join(AcmgClass.values)}."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        finding = GeneticFinding.objects.create(
            patient=patient,
            gene=gene,
            hgvs_c=hgvs_c,
            hgvs_p=hgvs_p,
            transcript=transcript,
            zygosity=zygosity,
            acmg_class=acmg_class,
            reported_on=reported_on,
        )
        audit_created(finding, by=by, patient=patient)
    return finding


def consent_record(
    *,
    patient: Patient,
    research_use: bool,
    version: str,
    consented_on: dt.date,
    by,
    withdrawn_on: dt.date | None = None,
) -> Consent:
    """Record consent; the newest consent decides whether research may use the data."""
    errors: dict[str, list[str]] = {}
    if not version:
        errors["version"] = ["Give the consent form version."]
    _check_consent_date(errors, consented_on)
    if withdrawn_on and consented_on and withdrawn_on < consented_on:
        errors["withdrawn_on"] = ["Withdrawal is before the consent date."]
    if errors:
        raise ValidationError(errors)
    user = actor(by)
    with transaction.atomic():
        consent = Consent.objects.create(
            patient=patient,
            research_use=research_use,
            version=version,
            consented_on=consented_on,
            withdrawn_on=withdrawn_on,
            recorded_by=user,
        )
        newest = Consent.objects.filter(patient=patient).order_by("-consented_on", "-id").first()
        allowed = bool(newest and newest.research_use and newest.withdrawn_on is None)
        Patient.objects.filter(pk=patient.pk).update(research_consent=allowed)
        patient.research_consent = allowed
        audit_created(consent, by=by, patient=patient)
    return consent


def consent_withdraw(*, patient: Patient, withdrawn_on: dt.date, by) -> Consent:
    """Withdraw the consent in force: a new row of the same version dated as given, so the
    history keeps both; research use stops."""
    current = Consent.objects.filter(patient=patient).order_by("-consented_on", "-id").first()
    if current is None or current.withdrawn_on is not None:
        raise ValidationError({"withdrawn_on": ["There is no consent in force to withdraw."]})
    errors: dict[str, list[str]] = {}
    check_date(
        errors,
        "withdrawn_on",
        withdrawn_on,
        label="The withdrawal date",
        required="Give the withdrawal date.",
        quote_date=False,
        earliest=None,
    )
    if errors:
        raise ValidationError(errors)
    return consent_record(
        patient=patient,
        research_use=current.research_use,
        version=current.version,
        consented_on=current.consented_on,
        withdrawn_on=withdrawn_on,
        by=by,
    )


def phenotype_record(
    *, patient: Patient, hpo_id: str, observed_on: dt.date, by, excluded: bool = False
) -> PhenotypeObservation:
    """An HPO finding observed outside a visit (present, or excluded: looked for and absent)."""
    errors: dict[str, list[str]] = {}
    hpo_id = (hpo_id or "").strip().upper()
    if not hpo_id:
        errors["hpo_id"] = ["Choose an HPO term."]
    elif hpo_id not in catalogue.HPO_TERMS:
        errors["hpo_id"] = [f"{hpo_id!r} is not one of the registry's HPO terms."]
    check_date(errors, "observed_on", observed_on, required="Give the date of the observation.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        obs = PhenotypeObservation.objects.create(
            patient=patient,
            hpo_id=hpo_id,
            label=catalogue.HPO_TERMS[hpo_id],
            excluded=bool(excluded),
            observed_on=observed_on,
        )
        audit_created(obs, by=by, patient=patient)
    return obs


def identity_update(*, patient: Patient, by, reason: str, **fields: Any) -> PatientIdentity:
    allowed = {"family_name", "given_name", "birth_date", "mrn", "phone", "email", "address"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({k: ["This field cannot be changed."] for k in sorted(unknown)})
    require_reason(reason)
    fields, errors = normalize.clean_fields(fields, normalize.IDENTITY_LABELS)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        identity = PatientIdentity.objects.select_for_update().get(patient=patient)
        before = snapshot(identity)
        for k, v in fields.items():
            setattr(identity, k, v)
        if "mrn" in fields and _mrn_taken(identity.site, identity.mrn, exclude_pk=identity.pk):
            raise ValidationError({"mrn": [f"MRN {identity.mrn} is already registered at {identity.site.code}."]})
        identity.save()
        if "birth_date" in fields and identity.birth_date:
            Patient.objects.filter(pk=patient.pk).update(birth_year=identity.birth_date.year)
        audit_record(
            user=by,
            action="update",
            obj=identity,
            patient=patient,
            changes=diff(before, snapshot(identity)),
            reason=reason,
        )
    return identity


PATIENT_EDITABLE = ("sex", "vital_status")
IDENTITY_EDITABLE = ("family_name", "given_name", "birth_date", "mrn", "phone", "email", "address")


def patient_update(*, patient: Patient, by, reason: str, expected_version: int | None, **fields: Any) -> Patient:
    """Edit a patient's own fields and identity; needs a reason; refuses a stale version."""
    errors = reason_errors(reason)
    unknown = set(fields) - set(PATIENT_EDITABLE) - set(IDENTITY_EDITABLE)
    for name in sorted(unknown):
        errors[name] = ["This field cannot be changed."]
    if "sex" in fields and fields["sex"] not in Sex.values:
        errors["sex"] = [f"Sex must be one of {', '.join(Sex.values)}."]
    if "vital_status" in fields and fields["vital_status"] not in VitalStatus.values:
        errors["vital_status"] = [f"Vital status must be one of {', '.join(VitalStatus.values)}."]
    fields, identity_errors = normalize.clean_fields(fields, normalize.IDENTITY_LABELS)
    errors.update(identity_errors)
    for name, label in normalize.IDENTITY_LABELS.items():
        if name in fields and name not in errors and not fields[name]:
            errors[name] = [f"The {label} is required."]
    if "birth_date" in fields:
        _check_birth_date(errors, fields["birth_date"])
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        current = Patient.objects.select_for_update().get(pk=patient.pk)
        check_version(current, expected_version, list(PATIENT_EDITABLE), noun="patient")
        identity_fields = {k: v for k, v in fields.items() if k in IDENTITY_EDITABLE}
        changed = False
        if identity_fields:
            identity = PatientIdentity.objects.get(patient=current)
            if any(getattr(identity, k) != v for k, v in identity_fields.items()):
                identity_update(patient=current, by=by, reason=reason, **identity_fields)
                changed = True
                if "birth_date" in identity_fields:
                    current.birth_year = identity_fields["birth_date"].year
        before = snapshot(current)
        for k in PATIENT_EDITABLE:
            if k in fields:
                setattr(current, k, fields[k])
        changes = diff(before, snapshot(current))
        if changes or changed:
            current.version += 1
            current.save()
            if changes:
                audit_record(user=by, action="update", obj=current, patient=current, changes=changes, reason=reason)
            patient_mark_for_evaluation(current)
    return current
