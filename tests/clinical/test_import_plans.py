"""The rows kept with an upload stand for reading the file again: the same preview (row
reports, results, counts) against the database as it is now, or nothing (then the file
is read again). They are purged with the file."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinical import import_plans, imports
from clinical.import_retention import lab_imports_purge_stale
from clinical.models import LabImport, LabResult
from clinical.services.lab_import import lab_import_confirm, lab_import_discard, lab_import_upload
from registry.models import Membership
from tests.factories import make_lab, make_patient, make_site

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 1, 1)
HEADER = "registry_code,mrn,analyte,value,unit,collected_on,fasting\r\n"


def row(code="", mrn="", analyte="triglycerides", value="5.2", unit="mmol/L", day="2024-03-01", fasting="yes"):
    return f"{code},{mrn},{analyte},{value},{unit},{day},{fasting}\r\n"


def fresh(user, content: bytes, **kw):
    return imports.lab_import_preview(user=user, content=content, today=TODAY, **kw)


def kept(user, content: bytes, **kw):
    sha = hashlib.sha256(content).hexdigest()
    blob = import_plans.dump(fresh(user, content), sha256=sha)
    assert blob, "a clean file is kept"
    return import_plans.restore(blob, sha256=sha, user=user, today=TODAY, **kw)


def shape(plan) -> dict:
    """Everything a preview says, with decimals compared as written."""
    return {
        "file": (plan.encoding, plan.delimiter, plan.warnings, plan.file_errors),
        "rows": [
            (
                r.line,
                r.patient,
                r.analyte,
                r.value,
                r.unit,
                r.collected_on,
                r.fasting,
                r.errors,
                r.patient_id,
                r.skipped,
                r.unit_suspect,
                r.status,
            )
            for r in plan.rows
        ],  # fmt: skip
        "labs": [
            (
                lab.patient_id,
                lab.analyte,
                str(lab.value),
                lab.unit,
                str(lab.canonical_value),
                lab.collected_on,
                lab.fasting,
                lab.created_by_id,
            )
            for lab in plan.labs
        ],  # fmt: skip
        "counts": (plan.row_count, plan.error_count, plan.skipped_count, plan.unit_suspect_count, plan.ok),
        "report": plan.report_rows(limit_ok=2),
    }


@pytest.fixture
def files(patient_a):
    code, mrn = patient_a.registry_code, patient_a.identity.mrn
    return {
        "bom, crlf, loinc, mrn": (
            "\ufeff" + HEADER + row(code) + row(mrn=mrn, analyte="2571-8", value="460", unit="mg/dL", day="2024-03-02")
        ).encode(),
        "semicolons, decimal comma": (HEADER.replace(",", ";") + f"{code};;hba1c;7,4;%;2024-03-01;no\r\n").encode(),
        "latin-1": (HEADER + row(code, analyte="bilirubin_total", unit="\u00b5mol/L", value="12")).encode("latin-1"),
        "unit slips and fasting glucose": (
            HEADER
            + row(code, value="250", unit="mmol/L")
            + row(code, analyte="1558-6", value="95", unit="mg/dL", fasting="")
            + row(code, analyte="alt", value="30", unit="IU/L", fasting="", day="2024-05-01")
        ).encode(),
        "blank lines, quotes, code and mrn, full-width code": (
            HEADER
            + "\r\n"
            + f'"{code}","{mrn}",hba1c,"48",mmol/mol,2024-03-01,n\r\n'
            + ",,,,,,\r\n"
            + row(code.replace("0", "\uff10"), value="1.25", day="2024-03-03")
        ).encode(),
        "duplicate inside the file": (HEADER + row(code) + row(code)).encode(),
    }


def test_kept_rows_give_the_fresh_preview(clinician_a, files):
    for name, content in files.items():
        assert shape(kept(clinician_a, content)) == shape(fresh(clinician_a, content)), name


def test_what_may_change_is_decided_again(clinician_a, patient_a, site_a, files):
    content = files["bom, crlf, loinc, mrn"]
    sha = hashlib.sha256(content).hexdigest()
    blob = import_plans.dump(fresh(clinician_a, content), sha256=sha)
    make_lab(patient=patient_a, value="5.2", unit="mmol/L", collected_on=dt.date(2024, 3, 1), by=clinician_a)
    for skip in (False, True):
        again = import_plans.restore(blob, sha256=sha, user=clinician_a, today=TODAY, skip_existing=skip)
        assert shape(again) == shape(fresh(clinician_a, content, skip_existing=skip))
        first = again.rows[0]
        assert (first.skipped if skip else first.errors[0]).startswith("Identical" if skip else "Duplicate")
    # the patient is no longer the user's: both rows are refused as unknown, as a fresh reading says
    Membership.objects.filter(user=clinician_a).update(site=make_site("ELSE", "Elsewhere"))
    del clinician_a._registry_scope  # as on the user's next request
    again = import_plans.restore(blob, sha256=sha, user=clinician_a, today=TODAY)
    assert shape(again) == shape(fresh(clinician_a, content))
    assert all("Unknown patient" in r.errors[0] for r in again.rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cells=st.lists(
        st.tuples(
            st.sampled_from([("triglycerides", "mg/dL"), ("2571-8", "mmol/L"), ("hba1c", "%"), ("glucose", "mg/dl")]),
            st.from_regex(r"[1-9][0-9]{0,2}(\.[0-9]{1,3})?", fullmatch=True),
            st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2024, 12, 31)),
            st.sampled_from(["yes", "no", "", "Y"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_kept_rows_give_the_fresh_preview_for_any_clean_file(clinician_a, patient_a, cells):
    code, mrn = patient_a.registry_code, patient_a.identity.mrn
    text = HEADER + "".join(
        row(code if by_code else "", "" if by_code else mrn, a, v, u, d.isoformat(), f)
        for (a, u), v, d, f, by_code in cells
    )
    plan = fresh(clinician_a, text.encode())
    if plan.parsed is None:  # a value outside the limits: not kept, read again
        assert import_plans.dump(plan, sha256="x") == b""
        return
    assert shape(kept(clinician_a, text.encode())) == shape(plan)


def test_a_file_with_a_row_error_is_not_kept(clinician_a, patient_a):
    content = (HEADER + row(patient_a.registry_code) + row(patient_a.registry_code, value="abc")).encode()
    assert import_plans.dump(fresh(clinician_a, content), sha256="x") == b""
    assert import_plans.dump(fresh(clinician_a, b""), sha256="x") == b""


def _rewrite(blob: bytes, **changes) -> bytes:
    head = json.loads(zlib.decompress(blob))
    head.update(changes)
    return zlib.compress(json.dumps(head).encode())


def test_kept_rows_are_not_used_for_other_code_another_file_or_a_later_day(clinician_a, files):
    content = files["bom, crlf, loinc, mrn"]
    sha = hashlib.sha256(content).hexdigest()
    blob = import_plans.dump(fresh(clinician_a, content), sha256=sha)
    assert import_plans.restore(blob, sha256=sha, user=clinician_a, today=TODAY) is not None
    assert import_plans.restore(_rewrite(blob, fingerprint="0" * 64), sha256=sha, user=clinician_a, today=TODAY) is None
    assert import_plans.restore(_rewrite(blob, format=0), sha256=sha, user=clinician_a, today=TODAY) is None
    assert import_plans.restore(blob, sha256="0" * 64, user=clinician_a, today=TODAY) is None
    # the latest row is of 2 March 2024: on 1 March it would be in the future
    assert import_plans.restore(blob, sha256=sha, user=clinician_a, today=dt.date(2024, 3, 1)) is None
    assert import_plans.restore(b"not zlib", sha256=sha, user=clinician_a, today=TODAY) is None


def test_confirm_imports_from_the_kept_rows_and_purges_them(clinician_a, patient_a):
    content = (HEADER + row(patient_a.registry_code) + row(patient_a.registry_code, day="2024-03-02")).encode()
    record, _plan = lab_import_upload(user=clinician_a, filename="ok.csv", content=content)
    assert bytes(LabImport.objects.get(pk=record.pk).plan)
    # the file itself is not read again: without it, confirm still imports every row
    LabImport.objects.filter(pk=record.pk).update(content=b"")
    record, plan = lab_import_confirm(lab_import=record, by=clinician_a)
    assert record.imported_count == 2 == LabResult.objects.filter(source="import").count()
    stored = LabImport.objects.get(pk=record.pk)
    assert bytes(stored.plan) == b"" and bytes(stored.content) == b""


def test_confirm_reads_the_file_when_the_rows_may_not_stand_for_it(clinician_a, patient_a):
    content = (HEADER + row(patient_a.registry_code)).encode()
    record, _plan = lab_import_upload(user=clinician_a, filename="ok.csv", content=content)
    blob = bytes(LabImport.objects.get(pk=record.pk).plan)
    # kept by other code: not used; the file is read again (and is still all valid)
    LabImport.objects.filter(pk=record.pk).update(plan=_rewrite(blob, fingerprint="0" * 64))
    record, _ = lab_import_confirm(lab_import=record, by=clinician_a)
    assert record.imported_count == 1


def test_discard_and_retention_purge_the_kept_rows(clinician_a, patient_a):
    content = (HEADER + row(patient_a.registry_code)).encode()
    first, _ = lab_import_upload(user=clinician_a, filename="a.csv", content=content)
    lab_import_discard(lab_import=first)
    assert bytes(LabImport.objects.get(pk=first.pk).plan) == b""
    second, _ = lab_import_upload(user=clinician_a, filename="b.csv", content=content)
    lab_imports_purge_stale(now=timezone.now() + dt.timedelta(days=30))
    assert bytes(LabImport.objects.get(pk=second.pk).plan) == b""


def test_the_preview_page_reads_the_kept_rows(client, clinician_a, patient_a):
    content = (HEADER + row(patient_a.registry_code, value="250")).encode()
    record, _plan = lab_import_upload(user=clinician_a, filename="ok.csv", content=content)
    LabImport.objects.filter(pk=record.pk).update(content=b"")
    client.force_login(clinician_a)
    html = client.get(f"/imports/labs/{record.public_id}/").content.decode()
    assert "unusually high for this unit" in html and "Import 1 results" in html


def test_a_user_of_another_site_gets_unknown_patients(clinician_a, clinician_b, patient_a):
    content = (HEADER + row(patient_a.registry_code)).encode()
    sha = hashlib.sha256(content).hexdigest()
    blob = import_plans.dump(fresh(clinician_a, content), sha256=sha)
    again = import_plans.restore(blob, sha256=sha, user=clinician_b, today=TODAY)
    assert shape(again) == shape(fresh(clinician_b, content)) and "Unknown patient" in again.rows[0].errors[0]


def test_kept_rows_name_no_other_patient(clinician_a, site_a):
    """Kept rows hold what the file said (codes, MRNs, values): nothing about patients
    the file does not name."""
    other = make_patient(site=site_a, by=clinician_a)
    mine = make_patient(site=site_a, by=clinician_a)
    content = (HEADER + row(mine.registry_code)).encode()
    text = zlib.decompress(import_plans.dump(fresh(clinician_a, content), sha256="x")).decode()
    assert mine.registry_code in text and other.registry_code not in text and other.identity.mrn not in text


def _columns(user, content: bytes) -> dict:
    blob = import_plans.dump(fresh(user, content), sha256="x")
    return json.loads(zlib.decompress(blob))["columns"]


def test_the_column_path_decides_what_the_row_path_decides(clinician_a, patient_a, site_a):
    """A file naming its patients by code alone, with no repeated or stored row, is
    settled column by column; anything else row by row. Both give the fresh preview."""
    other = make_patient(site=site_a, by=clinician_a)
    code = patient_a.registry_code
    clean = (HEADER + row(code) + row(other.registry_code, value="250") + row(code, day="2024-03-02")).encode()
    by_columns = imports.ImportPlan(encoding="utf-8")
    assert import_plans._attach_clean(_columns(clinician_a, clean), by_columns, user=clinician_a)
    by_rows = imports.ImportPlan(encoding="utf-8")
    import_plans._attach_rows(_columns(clinician_a, clean), by_rows, user=clinician_a, skip_existing=False)
    assert shape(by_columns) == shape(by_rows) == shape(fresh(clinician_a, clean))
    for name, content in {
        "an mrn": HEADER + row(code) + row(mrn=other.identity.mrn),
        "a repeated row": HEADER + row(code) + row(code),
        "another site's patient": HEADER + row(code) + row(make_patient(site=make_site("SB", "B")).registry_code),
    }.items():
        assert not import_plans._attach_clean(
            _columns(clinician_a, content.encode()), imports.ImportPlan(), user=clinician_a
        ), name
        assert shape(kept(clinician_a, content.encode())) == shape(fresh(clinician_a, content.encode())), name
    make_lab(patient=patient_a, value="5.2", unit="mmol/L", collected_on=dt.date(2024, 3, 1), by=clinician_a)
    assert not import_plans._attach_clean(_columns(clinician_a, clean), imports.ImportPlan(), user=clinician_a)
    for skip in (False, True):
        assert shape(kept(clinician_a, clean, skip_existing=skip)) == shape(
            fresh(clinician_a, clean, skip_existing=skip)
        )
