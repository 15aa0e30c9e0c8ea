"""Lab CSV import: the malformed-CSV corpus (SECURITY.md item 18), all-or-nothing
confirm, and the same path through the API, the web pages and the command."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from clinical import imports
from clinical.models import LabImport, LabResult
from clinical.services.lab_import import lab_import_confirm, lab_import_upload
from registry.models import AuditEvent, Patient
from registry.writekit import UploadTooLarge, check_upload_size
from tests.factories import make_lab
from tests.registry.test_api import api_for

HEADER = "registry_code,mrn,analyte,value,unit,collected_on,fasting\r\n"


def row(code="", mrn="", analyte="triglycerides", value="5.2", unit="mmol/L", day="2024-03-01", fasting="yes"):
    return f"{code},{mrn},{analyte},{value},{unit},{day},{fasting}\r\n"


def preview(user, text: str | bytes):
    content = text.encode("utf-8") if isinstance(text, str) else text
    return imports.lab_import_preview(user=user, content=content, today=dt.date(2025, 1, 1))


def errors_of(plan) -> list[str]:
    return [e for r in plan.rows for e in r.errors] + plan.file_errors


@pytest.fixture
def code_a(patient_a):
    return patient_a.registry_code


# --- the corpus -------------------------------------------------------------------------


@pytest.mark.django_db
def test_valid_file_with_bom_crlf_and_loinc(clinician_a, code_a, patient_a):
    text = (
        "\ufeff" + HEADER + row(code_a) + row(mrn=patient_a.identity.mrn, analyte="2571-8", value="460", unit="mg/dL")
    )
    plan = preview(clinician_a, text)
    assert plan.encoding == "utf-8-sig" and plan.ok and plan.error_count == 0
    assert [lab.analyte for lab in plan.labs] == ["triglycerides", "triglycerides"]


@pytest.mark.django_db
def test_semicolon_delimiter_and_decimal_comma(clinician_a, code_a):
    text = HEADER.replace(",", ";") + f"{code_a};;hba1c;7,4;%;2024-03-01;no\r\n"
    plan = preview(clinician_a, text)
    assert plan.delimiter == ";" and plan.ok
    assert str(plan.labs[0].value) == "7.4" and plan.labs[0].fasting is False


@pytest.mark.django_db
def test_latin1_falls_back_with_warning(clinician_a, code_a):
    text = (HEADER + row(code_a, unit="mmol/L", fasting="oui")).encode("utf-8")
    latin = text.replace(b"mmol/L", "\u00b5mol/L".encode("latin-1")).replace(b"triglycerides", b"bilirubin_total")
    plan = preview(clinician_a, latin)
    assert plan.encoding == "latin-1" and "Latin-1" in plan.warnings[0]
    assert plan.ok, errors_of(plan)
    assert plan.labs[0].unit == "umol/L"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (HEADER + '{code},,hba1c,"7.4,%,2024-03-01,\r\n', "Malformed CSV"),  # unterminated quote
        (HEADER + '{code},,"hba1c"x,7.4,%,2024-03-01,\r\n', "Malformed CSV"),  # stray quote after field
        (HEADER + '{code},,hba1c,7"4,%,2024-03-01,\r\n', "not a number"),  # stray quote inside field
        (HEADER + "{code},,hba1c,7.4,%,2024-03-01,," + "x" * 200_000 + "\r\n", "Malformed CSV"),  # 200 kB field
        (HEADER + "{code},,hba1c,7.4,%,2024-03-01\r\n", "Expected 7 columns"),
        (HEADER + "{code},,potassium,4,mmol/L,2024-03-01,\r\n", "Unknown analyte"),
        (HEADER + "{code},,triglycerides,4,g/L,2024-03-01,\r\n", "accepted units"),
        (HEADER + "{code},,triglycerides,999999,mg/dL,2024-03-01,\r\n", "implausible"),
        (HEADER + "{code},,triglycerides,-1,mmol/L,2024-03-01,\r\n", "implausible"),
        (HEADER + "{code},,triglycerides,4,mmol/L,2030-01-01,\r\n", "in the future"),
        (HEADER + "{code},,triglycerides,4,mmol/L,01/03/2024,\r\n", "YYYY-MM-DD"),
        (HEADER + "{code},,triglycerides,4,mmol/L,2024-03-01,maybe\r\n", "not yes or no"),
        (HEADER + "LD-999999,,triglycerides,4,mmol/L,2024-03-01,\r\n", "Unknown patient"),
        (HEADER + ",NOPE,triglycerides,4,mmol/L,2024-03-01,\r\n", "Unknown patient"),
        (HEADER + ",,triglycerides,4,mmol/L,2024-03-01,\r\n", "registry code or MRN"),
        ("registry_code,analyte,analyte,value,unit,collected_on\r\n", "appears twice"),
        ("registry_code,analyte,value,collected_on\r\n{code},hba1c,7,2024-01-01\r\n", "Missing column(s): unit"),
        ("registry_code,analyte,value,unit,collected_on,colour\r\n", "Unknown column"),
        ("", "empty"),
        (HEADER, "no results"),
        ("registry_code,analyte\x00,value\r\n", "NUL"),
    ],
)
def test_malformed_corpus_gives_row_reports_and_imports_nothing(clinician_a, code_a, body, expected):
    good = row(code_a, analyte="alt", value="30", unit="U/L")
    text = body.replace("{code}", code_a)
    if text.startswith(HEADER) and text != HEADER:
        text = HEADER + good + text[len(HEADER) :]  # a valid row first: nothing may be partly imported
    record, plan = lab_import_upload(user=clinician_a, filename="bad.csv", content=text.encode())
    assert not plan.ok
    assert any(expected in e for e in errors_of(plan)), errors_of(plan)
    with pytest.raises(imports.ValidationError):
        lab_import_confirm(lab_import=record, by=clinician_a)
    assert not LabResult.objects.exists()


@pytest.mark.django_db
def test_other_sites_patient_gets_the_unknown_patient_message(clinician_a, patient_b):
    plan = preview(clinician_a, HEADER + row(patient_b.registry_code) + row(mrn=patient_b.identity.mrn))
    messages = [r.errors[0] for r in plan.rows]
    assert messages == [
        f"Unknown patient {patient_b.registry_code!r}, or not a patient of a site where you may enter data.",
        f"Unknown patient {patient_b.identity.mrn!r}, or not a patient of a site where you may enter data.",
    ]


@pytest.mark.django_db
def test_duplicates_of_existing_results_and_within_the_file(clinician_a, code_a, patient_a):
    make_lab(patient=patient_a, value="5.2", unit="mmol/L", collected_on=dt.date(2024, 3, 1), by=clinician_a)
    plan = preview(clinician_a, HEADER + row(code_a) + row(code_a, day="2024-04-01") + row(code_a, day="2024-04-01"))
    assert "already recorded" in plan.rows[0].errors[0]
    assert plan.rows[1].errors == []
    assert plan.rows[2].errors == ["Duplicate of line 3 in this file."]


def test_oversized_file_is_refused(settings):
    settings.LAB_IMPORT_MAX_BYTES = 100
    with pytest.raises(UploadTooLarge, match="limit is 100 bytes"):
        check_upload_size(101)


# --- confirm: all or nothing ------------------------------------------------------------


@pytest.mark.django_db
def test_confirm_imports_all_rows_with_audit_and_evaluation_flags(clinician_a, code_a, patient_a, site_a):
    from tests.factories import make_patient

    other = make_patient(site=site_a, by=clinician_a)
    Patient.objects.update(needs_evaluation=False)
    text = HEADER + row(code_a) + row(code_a, analyte="hba1c", value="7.1", unit="%") + row(other.registry_code)
    record, plan = lab_import_upload(user=clinician_a, filename="ok.csv", content=text.encode())
    assert plan.ok and record.row_count == 3
    record, _ = lab_import_confirm(lab_import=record, by=clinician_a)
    assert record.status == LabImport.Status.IMPORTED and record.imported_count == 3
    assert LabResult.objects.filter(source="import").count() == 3
    # one audit event for the import, naming its results (tests/clinical/test_import_audit.py)
    assert not AuditEvent.objects.filter(model="clinical.LabResult").exists()
    event = AuditEvent.objects.get(model="clinical.LabImport", action="create")
    assert event.changes["rows"] == [None, 3] and event.patient is None
    assert set(Patient.objects.filter(needs_evaluation=True).values_list("pk", flat=True)) == {patient_a.pk, other.pk}
    with pytest.raises(imports.ValidationError, match="imported"):
        lab_import_confirm(lab_import=record, by=clinician_a)
    assert LabResult.objects.count() == 3


@pytest.mark.django_db
def test_confirm_revalidates_against_the_database(clinician_a, code_a, patient_a):
    record, plan = lab_import_upload(user=clinician_a, filename="ok.csv", content=(HEADER + row(code_a)).encode())
    assert plan.ok
    make_lab(patient=patient_a, value="5.2", unit="mmol/L", collected_on=dt.date(2024, 3, 1), by=clinician_a)
    with pytest.raises(imports.ValidationError, match="nothing was imported"):
        lab_import_confirm(lab_import=record, by=clinician_a)
    assert LabResult.objects.count() == 1


@pytest.mark.django_db
def test_researcher_cannot_upload(researcher_a, code_a):
    with pytest.raises(imports.ValidationError):
        lab_import_upload(user=researcher_a, filename="x.csv", content=(HEADER + row(code_a)).encode())


# --- API --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_upload_preview_confirm(clinician_a, clinician_b, code_a):
    client = api_for(clinician_a)
    upload = io.BytesIO((HEADER + row(code_a)).encode())
    upload.name = "labs.csv"
    response = client.post("/api/v1/lab-imports/", {"file": upload}, format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["row_count"] == 1 and body["error_count"] == 0 and body["rows"][0]["status"] == "ok"
    assert api_for(clinician_b).get(f"/api/v1/lab-imports/{body['id']}/").status_code == 404
    assert api_for(clinician_b).post(f"/api/v1/lab-imports/{body['id']}/confirm/").status_code == 404
    confirm = client.post(f"/api/v1/lab-imports/{body['id']}/confirm/")
    assert confirm.status_code == 200 and confirm.json()["imported_count"] == 1
    assert LabResult.objects.filter(source="import").count() == 1
    raw = client.post(
        "/api/v1/lab-imports/", (HEADER + row(code_a, day="2024-05-01")).encode(), content_type="text/csv"
    )
    assert raw.status_code == 201 and raw.json()["error_count"] == 0
    assert APIClient().post("/api/v1/lab-imports/", {"file": upload}, format="multipart").status_code == 401


@pytest.mark.django_db
def test_api_upload_with_errors_cannot_be_confirmed(clinician_a, code_a):
    client = api_for(clinician_a)
    response = client.post(
        "/api/v1/lab-imports/", (HEADER + row(code_a) + row(code_a, value="abc")).encode(), content_type="text/csv"
    )
    body = response.json()
    assert body["error_count"] == 1 and body["rows"][1]["status"] == "error"
    confirm = client.post(f"/api/v1/lab-imports/{body['id']}/confirm/")
    assert confirm.status_code == 400 and "nothing was imported" in confirm.json()["errors"]["file"][0]
    assert not LabResult.objects.exists()


@pytest.mark.django_db
def test_api_oversized_file_is_413(clinician_a, code_a, settings):
    settings.LAB_IMPORT_MAX_BYTES = 200
    client = api_for(clinician_a)
    big = (HEADER + row(code_a) * 10).encode()
    upload = io.BytesIO(big)
    upload.name = "big.csv"
    assert client.post("/api/v1/lab-imports/", {"file": upload}, format="multipart").status_code == 413
    response = client.post("/api/v1/lab-imports/", big, content_type="text/csv")
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    assert not LabImport.objects.exists()


# --- web pages --------------------------------------------------------------------------


@pytest.mark.django_db
def test_web_upload_preview_confirm_and_template(client, clinician_a, researcher_a, code_a):
    client.force_login(clinician_a)
    template = client.get("/imports/labs/template.csv")
    assert template.status_code == 200 and template.content.decode().startswith("registry_code,mrn,analyte")
    upload = io.BytesIO((HEADER + row(code_a) + row(code_a, analyte="nope")).encode())
    upload.name = "labs.csv"
    response = client.post("/imports/labs/", {"file": upload})
    assert response.status_code == 302
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Unknown analyte" in html and "Nothing will be imported" in html
    record = LabImport.objects.get()
    client.post(f"/imports/labs/{record.public_id}/confirm/")
    assert not LabResult.objects.exists()
    good = io.BytesIO((HEADER + row(code_a)).encode())
    good.name = "good.csv"
    response = client.post("/imports/labs/", {"file": good})
    preview_page = client.get(response["Location"]).content.decode()
    assert "Import 1 results" in preview_page
    record = LabImport.objects.get(filename="good.csv")
    client.post(f"/imports/labs/{record.public_id}/confirm/")
    assert LabResult.objects.count() == 1
    client.force_login(researcher_a)
    assert client.get("/imports/labs/").status_code == 403


@pytest.mark.django_db
def test_web_oversized_upload_is_413(client, clinician_a, code_a, settings):
    settings.LAB_IMPORT_MAX_BYTES = 50
    client.force_login(clinician_a)
    upload = io.BytesIO((HEADER + row(code_a)).encode())
    upload.name = "big.csv"
    response = client.post("/imports/labs/", {"file": upload})
    assert response.status_code == 413 and "limit is 50 bytes" in response.content.decode()


# --- command ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_labs_command_dry_run_and_import(tmp_path, clinician_a, code_a, capsys):
    path = tmp_path / "labs.csv"
    path.write_text(HEADER + row(code_a) + row(code_a, analyte="hba1c", value="7", unit="%"), encoding="utf-8")
    call_command("import_labs", str(path), "--user", clinician_a.username, "--dry-run")
    assert "Dry run" in capsys.readouterr().out and not LabResult.objects.exists()
    call_command("import_labs", str(path), "--user", clinician_a.username)
    assert "Imported 2 lab results" in capsys.readouterr().out
    assert LabResult.objects.count() == 2
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + row(code_a, day="2024-06-01") + row(code_a, value="x"), encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_labs", str(bad), "--user", clinician_a.username)
    assert exit_info.value.code == 1 and "line 3" in capsys.readouterr().err
    assert LabResult.objects.count() == 2
