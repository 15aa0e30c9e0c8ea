"""Lab import files: readable only by their uploader while they may still write; content
purged on confirm and after the retention period unconfirmed (the row report keeps line
numbers and messages, not values); the import's audit event joins the hash chain."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings

from clinical.import_retention import lab_imports_purge_stale
from clinical.models import LabImport
from clinical.services.lab_import import lab_import_confirm, lab_import_upload
from clinical.tasks import purge_stale_lab_imports
from registry import audit_chain
from registry.models import AuditEvent, Membership
from tests.clinical.test_import import HEADER, row

pytestmark = pytest.mark.django_db


def test_confirm_purges_the_content_and_chains_the_import_event(clinician_a, patient_a):
    code = patient_a.registry_code
    text = HEADER + row(code) + row(code, analyte="hba1c", value="7.1", unit="%")
    record, _plan = lab_import_upload(user=clinician_a, filename="ok.csv", content=text.encode())
    record, _ = lab_import_confirm(lab_import=record, by=clinician_a)
    stored = LabImport.objects.get(pk=record.pk)
    assert bytes(stored.content) == b"" and stored.purged_at is not None and stored.imported_count == 2
    event = AuditEvent.objects.get(model="clinical.LabImport")
    before = AuditEvent.objects.filter(pk__lt=event.pk).order_by("-pk").first()
    assert event.prev_hash == (before.hash if before else audit_chain.GENESIS)
    assert audit_chain.verify().intact


def test_unconfirmed_files_are_purged_after_the_retention_period(clinician_a, patient_a):
    assert settings.LAB_IMPORT_RETENTION_DAYS == 7
    mrn = patient_a.identity.mrn
    text = HEADER + row(mrn="NOPE-98765") + row(mrn=mrn, value="abc")
    record, plan = lab_import_upload(user=clinician_a, filename="bad.csv", content=text.encode())
    assert not plan.ok
    assert lab_imports_purge_stale() == 0  # still young
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=7, minutes=1)):
        assert purge_stale_lab_imports() == 1
    stored = LabImport.objects.get(pk=record.pk)
    assert bytes(stored.content) == b"" and stored.status == LabImport.Status.DISCARDED
    lines = [r["line"] for r in stored.report]
    assert lines == [2, 3] and all(r["messages"] for r in stored.report)
    kept = str(stored.report)
    assert "NOPE-98765" not in kept and mrn not in kept and "abc" not in kept


def test_a_user_who_lost_write_access_cannot_read_their_upload(client, clinician_a, patient_a):
    text = HEADER + row(patient_a.registry_code)
    record, _plan = lab_import_upload(user=clinician_a, filename="x.csv", content=text.encode())
    client.force_login(clinician_a)
    url = f"/imports/labs/{record.public_id}/"
    assert client.get(url).status_code == 200
    Membership.objects.filter(user=clinician_a).update(role="researcher")
    response = client.get(url)
    assert response.status_code == 404 and patient_a.registry_code.encode() not in response.content
