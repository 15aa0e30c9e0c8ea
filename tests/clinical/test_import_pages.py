"""The lab import as a clinician uses it: linked for writers, a template that matches no
patient, the analyte codes from the catalogue, identity hints, skipping rows identical to
stored results, and the alerts an import raised."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from clinical import catalogue, imports
from clinical.evaluation import patient_evaluate
from clinical.models import LabImport, LabResult
from clinical.services.lab_import import lab_import_confirm, lab_import_upload
from tests.factories import make_lab, make_patient

pytestmark = pytest.mark.django_db
HEADER = "registry_code,mrn,analyte,value,unit,collected_on,fasting\r\n"


def test_navigation_links_the_import_for_writers_only(client, clinician_a, researcher_a):
    client.force_login(clinician_a)
    assert reverse("lab-import") in client.get(reverse("patient-list")).content.decode()
    client.force_login(researcher_a)
    assert reverse("lab-import") not in client.get(reverse("patient-list")).content.decode()


def test_template_rows_match_no_patient(clinician_a, patient_a, site_a):
    # Even a registry whose codes look like the examples' is not written to.
    make_patient(site=site_a, by=clinician_a)
    plan = imports.lab_import_preview(user=clinician_a, content=imports.TEMPLATE_CSV.encode())
    assert not plan.ok and not plan.labs
    assert all("example row from the template" in r.errors[0] for r in plan.rows)


def test_upload_page_lists_every_analyte_with_loinc_and_units(client, clinician_a):
    client.force_login(clinician_a)
    body = client.get(reverse("lab-import")).content.decode()
    for a in catalogue.ANALYTES.values():
        assert f"<code>{a.code}</code>" in body
        for code in (*a.loinc, *a.loinc_si):
            assert f"<code>{code}</code>" in body
        for unit in a.accepted_units:
            assert f"<code>{unit}</code>" in body


def test_preview_shows_initials_and_birth_year_to_clinicians(client, clinician_a, patient_a):
    content = (HEADER + f"{patient_a.registry_code},,hba1c,7.1,%,2024-03-01,\r\n").encode()
    record, _ = lab_import_upload(user=clinician_a, filename="a.csv", content=content)
    client.force_login(clinician_a)
    resp = client.get(reverse("lab-import-preview", args=[record.public_id]))
    ident = patient_a.identity
    expected = f"{ident.given_name[0]}. {ident.family_name[0]}. {ident.birth_date.year}"
    assert resp.context["rows"][0][1] == expected and expected in resp.content.decode()


def test_rows_identical_to_stored_results_can_be_skipped(client, clinician_a, patient_a):
    day = dt.date(2024, 3, 1)
    make_lab(patient=patient_a, value="5.2", unit="mmol/L", collected_on=day, by=clinician_a)
    code = patient_a.registry_code
    content = (
        HEADER + f"{code},,triglycerides,5.2,mmol/L,2024-03-01,\r\n" + f"{code},,hba1c,7.1,%,2024-03-01,\r\n"
    ).encode()
    record, plan = lab_import_upload(user=clinician_a, filename="dup.csv", content=content)
    assert not plan.ok and "already recorded" in plan.rows[0].errors[0]
    client.force_login(clinician_a)
    preview = client.get(reverse("lab-import-preview", args=[record.public_id]) + "?skip_existing=1")
    assert preview.context["can_confirm"] and preview.context["plan"].skipped_count == 1
    assert "Skipped" in preview.content.decode()
    resp = client.post(reverse("lab-import-confirm", args=[record.public_id]), {"skip_existing": "1"}, follow=True)
    record.refresh_from_db()
    assert record.status == LabImport.Status.IMPORTED and record.imported_count == 1
    assert "1 identical to stored results skipped" in resp.content.decode()
    assert LabResult.objects.filter(patient=patient_a).count() == 2


def test_after_confirming_the_raised_alerts_are_listed_with_links(client, clinician_a, patient_a, site_a):
    other = make_patient(site=site_a, by=clinician_a)
    make_lab(patient=other, analyte="glucose", value="40", collected_on=dt.date(2024, 1, 1), by=clinician_a)
    patient_evaluate(patient_id=other.pk)  # an alert that is not the import's
    content = (HEADER + f"{patient_a.registry_code},,triglycerides,1500,mg/dL,2024-03-01,\r\n").encode()
    record, _ = lab_import_upload(user=clinician_a, filename="tg.csv", content=content)
    record, _ = lab_import_confirm(lab_import=record, by=clinician_a)
    client.force_login(clinician_a)
    pending = client.get(reverse("lab-import-preview", args=[record.public_id]))
    assert pending.context["pending"] and "still being evaluated" in pending.content.decode()
    patient_evaluate(patient_id=patient_a.pk)
    resp = client.get(reverse("lab-import-preview", args=[record.public_id]))
    raised = resp.context["raised"]
    assert [(a.rule, a.patient_id) for a in raised] == [("TG_SEVERE", patient_a.pk)]
    assert reverse("patient-chart", args=[patient_a.public_id]) + f"#alert-{raised[0].public_id}" in (
        resp.content.decode()
    )


def test_command_skips_rows_identical_to_stored_results(tmp_path, clinician_a, patient_a, capsys):
    from django.core.management import call_command

    make_lab(patient=patient_a, value="5.2", unit="mmol/L", collected_on=dt.date(2024, 3, 1), by=clinician_a)
    code = patient_a.registry_code
    path = tmp_path / "dup.csv"
    path.write_text(HEADER + f"{code},,triglycerides,5.2,mmol/L,2024-03-01,\r\n{code},,hba1c,7.1,%,2024-03-01,\r\n")
    call_command("import_labs", str(path), "--user", clinician_a.username, "--skip-existing")
    out = capsys.readouterr().out
    assert "1 skipped" in out and "Imported 1 lab results" in out
    assert LabResult.objects.filter(patient=patient_a).count() == 2
