"""Registry write services and the database constraints behind the rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from clinical.models import DoseChange, LabResult, TreatmentCourse, Visit
from registry import services
from registry.models import AuditEvent, Consent, Diagnosis, GeneticFinding, Patient, PatientIdentity
from tests.factories import make_patient

pytestmark = pytest.mark.django_db


def _register(site, by, **overrides):
    fields = {
        "site": site,
        "sex": "female",
        "birth_date": dt.date(1988, 4, 2),
        "family_name": "Demo-Kelso",
        "given_name": "Test",
        "mrn": "MRN-1",
        "by": by,
        "subtype": "FPLD2",
        "diagnosis_date": dt.date(2010, 1, 1),
        "research_consent": True,
        "consent_version": "v1",
        "consented_on": dt.date(2011, 1, 1),
    }
    fields.update(overrides)
    return services.patient_register(**fields)


def test_patient_register_writes_patient_identity_diagnosis_consent_and_audit(site_a, clinician_a):
    p = _register(site_a, clinician_a)
    assert p.registry_code == f"LD-{p.pk:06d}"
    assert p.identity.mrn == "MRN-1" and p.birth_year == 1988
    assert p.primary_subtype == "FPLD2" and p.research_consent is True
    assert Diagnosis.objects.filter(patient=p).count() == 1 and Consent.objects.filter(patient=p).count() == 1
    audited = set(AuditEvent.objects.filter(patient=p).values_list("model", flat=True))
    assert {"registry.Patient", "registry.PatientIdentity", "registry.Diagnosis", "registry.Consent"} <= audited


def test_duplicate_mrn_at_a_site_is_refused_with_a_clear_message(site_a, site_b, clinician_a, clinician_b):
    _register(site_a, clinician_a)
    counts = (Patient.objects.count(), PatientIdentity.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as exc:
        _register(site_a, clinician_a, family_name="Demo-Other")
    assert exc.value.message_dict["mrn"] == ["MRN MRN-1 is already registered at SITEA."]
    assert (Patient.objects.count(), PatientIdentity.objects.count(), AuditEvent.objects.count()) == counts
    _register(site_b, clinician_b)  # the same MRN at another site is another patient


def test_patient_register_collects_errors(site_a, clinician_a):
    with pytest.raises(ValidationError) as exc:
        _register(
            site_a,
            clinician_a,
            family_name=" ",
            sex="x",
            birth_date=dt.date(2100, 1, 1),
            subtype="NOPE",
            consent_version="",
        )
    assert {"family_name", "sex", "birth_date", "subtype", "consent_version"} <= set(exc.value.message_dict)
    assert not Patient.objects.exists()


def test_genetic_finding_validates_hgvs(patient_a, clinician_a):
    with pytest.raises(ValidationError) as exc:
        services.genetic_finding_add(patient=patient_a, gene="lmna", hgvs_c="1444C>T", hgvs_p="R482", by=clinician_a)
    assert set(exc.value.message_dict) == {"gene", "hgvs_c", "hgvs_p"}
    f = services.genetic_finding_add(
        patient=patient_a,
        gene="LMNA",
        transcript="NM_170707.4",
        hgvs_c="c.1444C>T",
        hgvs_p="p.(Arg482Trp)",
        zygosity="heterozygous",
        acmg_class="pathogenic",
        by=clinician_a,
    )
    assert GeneticFinding.objects.get(pk=f.pk).hgvs_p == "p.(Arg482Trp)"


def test_withdrawn_consent_turns_research_use_off(patient_a, clinician_a):
    assert patient_a.research_consent
    services.consent_record(
        patient=patient_a,
        research_use=True,
        version="v2",
        consented_on=dt.date(2020, 1, 1),
        withdrawn_on=dt.date(2022, 1, 1),
        by=clinician_a,
    )
    patient_a.refresh_from_db()
    assert patient_a.research_consent is False


# --- database constraints back the rules (raw ORM writes, bypassing the services) --------


def _refused(make):
    with pytest.raises(IntegrityError), transaction.atomic():
        make()


def test_constraints_refuse_what_the_services_refuse(patient_a, site_a):
    _refused(
        lambda: LabResult.objects.create(
            patient=patient_a,
            analyte="leptin",
            value=Decimal("-1"),
            unit="ng/mL",
            canonical_value=Decimal("-1"),
            collected_on=dt.date(2024, 1, 1),
        )
    )
    _refused(
        lambda: TreatmentCourse.objects.create(
            patient=patient_a, drug="metformin", start_date=dt.date(2024, 1, 2), end_date=dt.date(2024, 1, 1)
        )
    )
    _refused(
        lambda: TreatmentCourse.objects.create(
            patient=patient_a, drug="statin", start_date=dt.date(2024, 1, 2), stop_reason="other"
        )
    )
    _refused(
        lambda: Visit.objects.create(
            patient=patient_a, site=site_a, visit_date=dt.date(2024, 1, 1), weight_kg=Decimal("-5")
        )
    )
    _refused(
        lambda: Visit.objects.create(
            patient=patient_a, site=site_a, visit_date=dt.date(2024, 1, 1), systolic_bp=80, diastolic_bp=90
        )
    )
    course = TreatmentCourse.objects.create(patient=patient_a, drug="insulin", start_date=dt.date(2024, 1, 1))
    _refused(
        lambda: DoseChange.objects.create(
            course=course, effective_date=dt.date(2024, 1, 1), dose=Decimal("-1"), dose_unit="U/day"
        )
    )
    _refused(
        lambda: Diagnosis.objects.create(
            patient=patient_a, subtype="CGL1", onset_date=dt.date(2020, 1, 1), diagnosis_date=dt.date(2019, 1, 1)
        )
    )
    _refused(
        lambda: Consent.objects.create(
            patient=patient_a,
            research_use=True,
            version="v1",
            consented_on=dt.date(2020, 1, 1),
            withdrawn_on=dt.date(2019, 1, 1),
        )
    )


def test_identity_constraints(patient_a, site_a, clinician_a):
    other = make_patient(site=site_a, by=clinician_a)
    # duplicate (site, normalised MRN): the key column is what the constraint holds
    _refused(lambda: PatientIdentity.objects.filter(pk=other.identity.pk).update(mrn_key=patient_a.identity.mrn_key))
    # an ORM write computes the key itself, whatever the case of the MRN
    identity = PatientIdentity.objects.get(pk=other.identity.pk)
    identity.mrn = patient_a.identity.mrn.lower()
    _refused(identity.save)
    # a second identity for one patient
    _refused(
        lambda: PatientIdentity.objects.create(
            patient=patient_a, site=site_a, family_name="X", given_name="Y", birth_date=dt.date(1990, 1, 1), mrn="NEW-1"
        )
    )
    # the registry code is unique
    _refused(lambda: Patient.objects.filter(pk=other.pk).update(registry_code=patient_a.registry_code))
