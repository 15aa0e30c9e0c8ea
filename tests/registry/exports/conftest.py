"""A small cohort whose identities and free text carry unique marker strings (canaries),
and a helper that runs an export into a zip and returns its entries."""

from __future__ import annotations

import datetime as dt
import itertools
import zipfile

import pytest

from clinical import services
from clinical.models import Alert
from registry import services as registry_services
from registry.exports.build import export_build
from registry.exports.cohort import ExportOptions
from registry.exports.sinks import ZipSink
from registry.models import PatientIdentity
from tests.factories import make_patient

BIRTH_DATE = dt.date(1961, 3, 29)
BIRTH_DATE_SPELLINGS = ("1961-03-29", "29/03/1961", "03/29/1961", "19610329", "29.03.1961")
_runs = itertools.count(1)


@pytest.fixture(autouse=True)
def _export_dirs(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"
    settings.EXPORT_KEY_DIR = tmp_path / "keys"
    settings.EXPORT_KEY_AUTOCREATE = True


class Canaries:
    def __init__(self):
        self.identity: list[str] = []  # names, MRN, phone, e-mail, address
        self.free_text: list[str] = []  # notes and reasons
        self.patients = []

    @property
    def all(self) -> list[str]:
        return self.identity + self.free_text


def _seed_patient(site, by, i: int, canaries: Canaries, *, subtype: str = "FPLD2"):
    tag = f"ZQX{site.code}{i:02d}"
    patient = make_patient(
        site=site,
        by=by,
        family_name=f"{tag}FAMILY",
        given_name=f"{tag}GIVEN",
        mrn=f"{tag}MRN",
        birth_date=BIRTH_DATE,
        subtype=subtype,
        phone=f"+33 1 {i:02d} {tag}",
        email=f"{tag.lower()}@example.org",
        diagnosis_date=dt.date(2016, 2, 1),
    )
    PatientIdentity.objects.filter(patient=patient).update(address=f"{tag}ADDRESS street")
    canaries.identity += [f"{tag}FAMILY", f"{tag}GIVEN", f"{tag}MRN", f"{tag}ADDRESS", tag.lower()]
    registry_services.diagnosis_add(
        patient=patient, subtype=subtype, by=by, diagnosis_date=dt.date(2016, 3, 1), notes=f"{tag}DXNOTE"
    )
    registry_services.genetic_finding_add(
        patient=patient, gene="LMNA", hgvs_c="c.1445G>A", hgvs_p="p.Arg482Gln", transcript="NM_170707.4",
        zygosity="heterozygous", acmg_class="pathogenic", by=by,
    )  # fmt: skip
    registry_services.phenotype_record(patient=patient, hpo_id="HP:0009125", observed_on=dt.date(2020, 1, 10), by=by)
    visit = services.visit_record(
        patient=patient,
        by=by,
        visit_date=dt.date(2021, 4, 6),
        weight_kg="61.5",
        height_cm="165",
        systolic_bp=128,
        diastolic_bp=82,
        notes=f"{tag}VISITNOTE",
        injection_site_notes=f"{tag}INJNOTE",
        injection_site_finding="normal",
        labs=[
            services.LabEntry("triglycerides", "1200", "mg/dL"),
            services.LabEntry("hba1c", "8.1", "%"),
            services.LabEntry("leptin", "1.2", "ng/mL"),
        ],
    )
    course = services.course_start(
        patient=patient, drug="metreleptin", start_date=dt.date(2021, 4, 7), dose="5", dose_unit="mg/day",
        by=by, notes=f"{tag}COURSENOTE",
    )  # fmt: skip
    services.dose_change_record(
        course=course, effective_date=dt.date(2021, 6, 1), dose="7.5", dose_unit="mg/day", by=by, reason=f"{tag}DOSEWHY"
    )
    canaries.free_text += [f"{tag}{x}" for x in ("DXNOTE", "VISITNOTE", "INJNOTE", "COURSENOTE", "DOSEWHY", "ACKNOTE")]
    canaries.patients.append(patient)
    return patient, visit


@pytest.fixture
def cohort(site_a, site_b, clinician_a, clinician_b, django_capture_on_commit_callbacks):
    """Six consenting FPLD2 women of site A (one group of six), two of site B."""
    canaries = Canaries()
    with django_capture_on_commit_callbacks(execute=True):  # evaluation: trends and alerts
        for i in range(6):
            _seed_patient(site_a, clinician_a, i, canaries)
        _seed_patient(site_b, clinician_b, 0, canaries)
        _seed_patient(site_b, clinician_b, 1, canaries)
    for alert in Alert.objects.all():
        tag = alert.patient.identity.mrn.removesuffix("MRN")
        services.alert_acknowledge(alert=alert, by=clinician_a, note=f"{tag}ACKNOTE")
    return canaries


def run_export(tmp_path, user, fmt: str, **options) -> dict[str, bytes]:
    """Run one export into a zip; the entries by name."""
    path = tmp_path / f"run{next(_runs)}.zip"
    sink = ZipSink(path)
    try:
        export_build(user=user, options=ExportOptions(format=fmt, **options), sink=sink)
    finally:
        sink.close()
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}
