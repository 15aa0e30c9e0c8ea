"""A lab import is one audit event, not one per result: it names the results exactly (id
ranges), carries a digest of the rows as written and the file's hash, sits in the hash
chain, and every reader of a patient's trail still tells which import wrote a result,
who ran it and when. Results entered one at a time keep their own audit rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from hypothesis import given
from hypothesis import strategies as st

from clinical import import_digest
from clinical.alert_lifecycle import withdrawal_reasons
from clinical.models import Alert, LabImport, LabResult
from clinical.selectors.imports import import_rows_digest, lab_provenance
from clinical.services import lab_result_record
from clinical.services.lab_import import lab_import_confirm, lab_import_upload, uuid4_hexes
from registry import audit_chain
from registry.access_audit import patient_access_log
from registry.models import AuditEvent, AuditEventPatient
from tests.factories import make_patient, make_user

pytestmark = pytest.mark.django_db

HEADER = "registry_code,mrn,analyte,value,unit,collected_on,fasting\r\n"
TABLE = AuditEvent._meta.db_table


def row(code, analyte="triglycerides", value="5.2", unit="mmol/L", day="2024-03-01", fasting="yes"):
    return f"{code},,{analyte},{value},{unit},{day},{fasting}\r\n"


def run_import(user, text: str, filename: str = "labs.csv"):
    record, plan = lab_import_upload(user=user, filename=filename, content=text.encode())
    assert plan.ok, [e for r in plan.rows for e in r.errors]
    record, _ = lab_import_confirm(lab_import=record, by=user)
    return record, AuditEvent.objects.get(model="clinical.LabImport", object_id=str(record.public_id))


@pytest.fixture
def imported(clinician_a, patient_a, site_a):
    other = make_patient(site=site_a, by=clinician_a)
    text = (
        HEADER
        + row(patient_a.registry_code)
        + row(patient_a.registry_code, analyte="2571-8", value="460", unit="mg/dL", day="2024-04-01")
        + row(other.registry_code, analyte="hba1c", value="7.1", unit="%", fasting="")
    )
    record, event = run_import(clinician_a, text)
    return record, event, other, text.encode()


def test_one_event_names_exactly_the_imported_results(imported, clinician_a, patient_a):
    record, event, other, content = imported
    ids = sorted(LabResult.objects.filter(source="import").values_list("pk", flat=True))
    assert len(ids) == 3
    assert not AuditEvent.objects.filter(model="clinical.LabResult").exists()
    assert AuditEvent.objects.filter(model="clinical.LabImport").count() == 1
    assert (event.action, event.user, event.patient, event.at) == ("create", clinician_a, None, record.imported_at)
    assert import_digest.ids_of(event.changes["result_ids"][1]) == ids
    assert event.changes["rows"] == [None, 3] and event.changes["skipped"] == [None, 0]
    assert event.changes["filename"] == [None, "labs.csv"] and event.reason == "lab import labs.csv"
    assert event.changes["sha256"] == [None, hashlib.sha256(content).hexdigest()]
    assert event.changes["patients"] == [None, sorted([patient_a.pk, other.pk])]
    assert set(AuditEventPatient.objects.filter(event=event).values_list("patient_id", flat=True)) == {
        patient_a.pk,
        other.pk,
    }
    assert audit_chain.verify().intact


def test_the_digest_is_the_stored_rows_and_changes_with_them(imported):
    _record, event, _other, _content = imported
    ranges = event.changes["result_ids"][1]
    assert import_rows_digest(result_ids=ranges) == (3, event.changes["rows_sha256"][1])
    # the digest is over the rows' values: a row changed behind the services' back shows
    LabResult.objects.filter(pk=import_digest.ids_of(ranges)[0]).update(value="5.3")
    found, digest = import_rows_digest(result_ids=ranges)
    assert found == 3 and digest != event.changes["rows_sha256"][1]


def test_the_canonical_line_reads_the_same_from_the_stored_row(imported):
    _record, event, _other, _content = imported
    lab = LabResult.objects.get(analyte="triglycerides", collected_on=dt.date(2024, 4, 1))
    line = import_digest.row_text(*LabResult.objects.filter(pk=lab.pk).values_list(*import_digest.DIGEST_FIELDS)[0])
    fields = line.split("\t")
    assert fields[0] == str(lab.pk) and fields[1] == lab.public_id.hex
    assert fields[3:9] == ["triglycerides", "460", "mg/dL", "5.1934", "2024-04-01", "t"]


def _tamper(sql: str, params: list) -> None:
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fire the test transaction's deferred FK checks
        cur.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER audit_append_only_row")
        cur.execute(sql, params)
        cur.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER audit_append_only_row")


@pytest.mark.parametrize(
    ("field", "value"),
    [("result_ids", [None, [[1, 2]]]), ("rows_sha256", [None, "0" * 64]), ("patients", [None, []])],
)
def test_verify_audit_catches_a_changed_import_event(imported, field, value):
    _record, event, _other, _content = imported
    changes = {**event.changes, field: value}
    _tamper(f"UPDATE {TABLE} SET changes = %s WHERE id = %s", [json.dumps(changes), event.pk])
    with pytest.raises(CommandError, match=f"row id {event.pk}"):
        call_command("verify_audit", stdout=StringIO())


def test_verify_audit_catches_a_patient_missing_from_the_index(imported, patient_a):
    _record, event, _other, _content = imported
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "intact" in out.getvalue()
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute("ALTER TABLE registry_auditeventpatient DISABLE TRIGGER audit_patient_append_only_row")
        cur.execute("DELETE FROM registry_auditeventpatient WHERE patient_id = %s", [patient_a.pk])
        cur.execute("ALTER TABLE registry_auditeventpatient ENABLE TRIGGER audit_patient_append_only_row")
    with pytest.raises(CommandError, match=f"Audit event {event.pk}: its patient index"):
        call_command("verify_audit", stdout=StringIO())


def test_the_patient_index_is_append_only(imported):
    from django.db import DatabaseError

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEventPatient.objects.all().delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEventPatient.objects.update(patient_id=None)


def test_results_entered_one_at_a_time_keep_their_own_audit_rows(imported, clinician_a, patient_a):
    lab = lab_result_record(
        patient=patient_a, analyte="alt", value="30", unit="U/L", collected_on=dt.date(2024, 5, 1), by=clinician_a
    )
    event = AuditEvent.objects.get(model="clinical.LabResult", object_id=str(lab.public_id))
    assert event.action == "create" and event.patient == patient_a and event.changes["value"] == [None, "30"]
    assert lab_provenance(lab=lab) is None


def test_history_page_shows_the_import_with_the_patients_results(client, imported, clinician_a, patient_a):
    record, _event, _other, _content = imported
    client.force_login(clinician_a)
    url = f"/patients/{patient_a.public_id}/history/"
    rows = client.get(url).context["rows"]
    mine = [r for r in rows if r.action == "Imported"]
    assert len(mine) == 1
    row_ = mine[0]
    assert row_.who == "Ada Clinician" and row_.record_type == "Lab results"
    assert row_.record == f"Lab import #{record.pk} (labs.csv): 2 lab results"
    assert row_.reason == "lab import labs.csv"
    assert [(c.label, c.after) for c in row_.changes] == [
        ("Triglycerides result of 1 Mar 2024", "461 mg/dL (as reported 5.2 mmol/L), fasting"),
        ("Triglycerides result of 1 Apr 2024", "460 mg/dL, fasting"),
    ]
    # the filters of the page know it: lab results, and the importing user
    assert [r.action for r in client.get(url, {"type": "labs"}).context["rows"]] == ["Imported"]
    assert (clinician_a.pk, "Ada Clinician") in client.get(url).context["authors"]
    html = client.get(url).content.decode()
    assert f"Lab import #{record.pk} (labs.csv)" in html and "460 mg/dL, fasting" in html
    csv_text = client.get(url, {"format": "csv"}).content.decode()
    assert f"Imported,Lab import #{record.pk} (labs.csv): 2 lab results" in csv_text


def test_history_of_a_patient_not_in_the_import_does_not_show_it(client, imported, clinician_a, site_a):
    stranger = make_patient(site=site_a, by=clinician_a)
    client.force_login(clinician_a)
    rows = client.get(f"/patients/{stranger.public_id}/history/").context["rows"]
    assert not [r for r in rows if r.action == "Imported"]


def test_history_query_count_does_not_grow_with_imports(client, clinician_a, patient_a, django_assert_num_queries):
    """The import rows on a page cost two queries (the imports' numbers, the patient's
    results among their ids) however many imports there are."""
    client.force_login(clinician_a)
    url = f"/patients/{patient_a.public_id}/history/"
    run_import(clinician_a, HEADER + row(patient_a.registry_code, day="2024-03-01"), filename="one.csv")
    with django_assert_num_queries(21):
        assert len(client.get(url).context["rows"]) >= 1
    for day in ("2024-03-02", "2024-03-03"):
        run_import(clinician_a, HEADER + row(patient_a.registry_code, day=day), filename=f"{day}.csv")
    with django_assert_num_queries(21):
        rows = client.get(url).context["rows"]
    assert [r.action for r in rows].count("Imported") == 3


def test_access_log_lists_the_import(client, imported, lead_a, patient_a):
    record, event, _other, _content = imported
    assert event in list(patient_access_log(patient=patient_a))
    client.force_login(lead_a)
    response = client.get(f"/patients/{patient_a.public_id}/access-log.csv")
    csv_text = b"".join(response.streaming_content).decode()
    assert "clin_a,create,clinical.LabImport," in csv_text and "lab import labs.csv" in csv_text


def test_result_page_names_the_import(client, imported, clinician_a):
    record, event, _other, _content = imported
    lab = LabResult.objects.filter(source="import").first()
    provenance = lab_provenance(lab=lab)
    assert (provenance.number, provenance.filename, provenance.by, provenance.at) == (
        record.pk,
        "labs.csv",
        "Ada Clinician",
        event.at,
    )
    client.force_login(clinician_a)
    html = client.get(f"/labs/{lab.public_id}/").content.decode()
    assert f"in lab import #{record.pk} (labs.csv) by Ada Clinician" in html


def test_withdrawal_reason_names_the_import_as_the_latest_change(imported, clinician_a, patient_a):
    record, event, _other, _content = imported
    alert = Alert(patient=patient_a, rule="TG_SEVERE", subject_key="TG_SEVERE:window")
    withdrawal_reasons([alert], dt.date(2024, 5, 1))
    assert alert.withdrawn_reason == (
        f"no longer found after a lab result was added on {event.at.date().isoformat()} by clin_a: lab import labs.csv"
    )
    assert alert.withdrawn_by_id == clinician_a.pk


def test_two_imports_by_two_users_each_name_their_own(imported, site_a, patient_a):
    other_user = make_user("clin_a2", site=site_a, first_name="Bo", last_name="Second")
    record2, event2 = run_import(other_user, HEADER + row(patient_a.registry_code, day="2024-06-01"), "more.csv")
    first, _event, _other, _content = imported
    assert set(import_digest.ids_of(event2.changes["result_ids"][1])) == set(
        LabResult.objects.filter(created_at=record2.imported_at).values_list("pk", flat=True)
    )
    lab = LabResult.objects.get(collected_on=dt.date(2024, 6, 1))
    assert lab_provenance(lab=lab).number == record2.pk and lab_provenance(lab=lab).by == "Bo Second"
    assert LabImport.objects.filter(status="imported").count() == 2


# --- pure -----------------------------------------------------------------------------


@given(st.sets(st.integers(min_value=1, max_value=500), max_size=60))
def test_id_ranges_round_trip(ids):
    ranges = import_digest.id_ranges(ids)
    assert import_digest.ids_of(ranges) == sorted(ids)
    assert all(first <= last for first, last in ranges)
    assert all(a[1] + 1 < b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # runs are maximal
    assert all(import_digest.in_ranges(ranges, i) == (i in ids) for i in range(0, 502))


def test_contiguous_ids_are_one_range():
    assert import_digest.id_ranges(range(10, 100_010)) == [[10, 100_009]]


def test_uuid4_hexes_are_random_version_4_uuids():
    hexes = uuid4_hexes(2000)
    assert len(set(hexes)) == 2000
    for h in hexes:
        u = uuid.UUID(h)
        assert u.hex == h and u.version == 4 and u.variant == uuid.RFC_4122


def test_decimal_text_ignores_the_stored_scale():
    from decimal import Decimal

    assert import_digest.decimal_text(Decimal("460.000000")) == import_digest.decimal_text(Decimal("460")) == "460"
    assert import_digest.decimal_text(Decimal("0.0000001000")) == "0.0000001"
    assert import_digest.decimal_text(Decimal("0E-10")) == "0"
    assert import_digest.decimal_text(Decimal("-0.000")) == "0"


def test_the_digest_of_zeros_and_trailing_zeros_recomputes(clinician_a, patient_a):
    code = patient_a.registry_code
    text = (
        HEADER
        + row(code, analyte="alt", value="-0", unit="U/L", fasting="")
        + row(code, analyte="leptin", value="0.000", unit="ng/mL", fasting="no")
        + row(code, analyte="hba1c", value="7.100000", unit="%", day="2024-03-02")
    )
    _record, event = run_import(clinician_a, text)
    assert import_rows_digest(result_ids=event.changes["result_ids"][1]) == (3, event.changes["rows_sha256"][1])


def test_the_digest_is_the_same_over_copy_chunks(clinician_a, patient_a, monkeypatch):
    from clinical.services import lab_import

    monkeypatch.setattr(lab_import, "_COPY_CHUNK", 2)  # 5 rows: three chunks
    code = patient_a.registry_code
    text = HEADER + "".join(row(code, value=f"{v}.5", day=f"2024-03-0{v}") for v in range(1, 6))
    _record, event = run_import(clinician_a, text)
    assert import_rows_digest(result_ids=event.changes["result_ids"][1]) == (5, event.changes["rows_sha256"][1])


def test_ids_taken_with_gaps_are_named_exactly(clinician_a, patient_a):
    """Other writers may take ids from the sequence while an import reserves its own: the
    event then names several runs, and still exactly the rows written."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence('clinical_labresult', 'id')")
        sequence = cur.fetchone()[0]
        cur.execute(f"ALTER SEQUENCE {sequence} INCREMENT BY 3")  # rolled back with the test
    code = patient_a.registry_code
    text = HEADER + "".join(row(code, value=f"{v}.5", day=f"2024-03-0{v}") for v in range(1, 5))
    _record, event = run_import(clinician_a, text)
    ranges = event.changes["result_ids"][1]
    ids = sorted(LabResult.objects.values_list("pk", flat=True))
    assert len(ranges) == 4 and import_digest.ids_of(ranges) == ids
    assert [b - a for a, b in zip(ids, ids[1:], strict=False)] == [3, 3, 3]
    assert import_rows_digest(result_ids=ranges) == (4, event.changes["rows_sha256"][1])
