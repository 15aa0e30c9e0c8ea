"""The content of every export format for a fixed cohort, byte for byte, against the files
in ``golden/``: a change to how the tables are read, sorted, formatted or written (speed
work included) must leave what a researcher receives exactly as it was.

The cohort is fixed to the byte: the clock is frozen, the patients' UUIDs (and so their
pseudonyms and date offsets) are set, and the project key comes from the environment.
After a deliberate change of content, rewrite the files with
``EXPORT_GOLDEN_WRITE=1 pytest tests/registry/exports/test_export_content.py`` and review
the diff like any other change."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import uuid
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import time_machine

from clinical import services
from registry.exports.build import export_build
from registry.exports.cohort import ExportOptions
from registry.exports.sinks import ZipSink
from registry.models import Patient, PhenotypeObservation

from .conftest import Canaries, _seed_patient

pytestmark = pytest.mark.django_db

GOLDEN = Path(__file__).parent / "golden"
NOW = dt.datetime(2024, 6, 3, 9, 30, tzinfo=dt.UTC)
CASES = [
    ("csv", "shifted"),
    ("csv", "relative"),
    ("parquet", "shifted"),
    ("fhir", "shifted"),
    ("phenopackets", "relative"),
]


@pytest.fixture
def fixed_cohort(site_a, site_b, clinician_a, clinician_b, django_capture_on_commit_callbacks, monkeypatch):
    """Eight FPLD2 patients (six of site A, two of site B), an FPLD3 and an FPLD4 patient of
    site A (generalised to "FPLD" at k = 2), and one patient with a year of labs around a
    metreleptin start: SI units, trailing zeros, fasting flags, reference limits, a result
    outside any visit, a formula-like phenotype label."""
    monkeypatch.setenv("EXPORT_KEY_GOLDEN", "5a" * 32)
    canaries = Canaries()
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        for i in range(6):
            _seed_patient(site_a, clinician_a, i, canaries)
        for i in range(2):
            _seed_patient(site_b, clinician_b, i, canaries)
        _seed_patient(site_a, clinician_a, 50, canaries, subtype="FPLD3")
        _seed_patient(site_a, clinician_a, 51, canaries, subtype="FPLD4")
        patient = canaries.patients[0]
        for day, tg, hba1c, fasting in (
            (dt.date(2021, 2, 1), "14.20", "9.40", True),
            (dt.date(2021, 7, 6), "6.10", "8.00", False),
            (dt.date(2021, 10, 5), "3.05", "7.25", None),
            (dt.date(2022, 4, 8), "2.500", "6.90", True),
        ):
            services.lab_result_record(
                patient=patient, analyte="triglycerides", value=tg, unit="mmol/L", collected_on=day, by=clinician_a,
                fasting=fasting, reference_low="0.50", reference_high="1.70",
            )  # fmt: skip
            services.lab_result_record(
                patient=patient, analyte="hba1c", value=hba1c, unit="%", collected_on=day, by=clinician_a
            )
        services.visit_record(
            patient=patient, by=clinician_a, visit_date=dt.date(2021, 10, 5), weight_kg="60.25", height_cm="165.0",
            labs=[services.LabEntry("alt", "31", "U/L", reference_low="7", reference_high="35")],
        )  # fmt: skip
    PhenotypeObservation.objects.create(
        patient=patient, hpo_id="HP:0000855", label="=HYPERLINK(1)", observed_on=dt.date(2020, 1, 2)
    )
    for n, p in enumerate(canaries.patients, start=1):
        Patient.objects.filter(pk=p.pk).update(public_id=uuid.UUID(int=n))
    return canaries


def _export(tmp_path, user, fmt: str, dates: str) -> dict[str, bytes]:
    path = tmp_path / f"{fmt}-{dates}.zip"
    sink = ZipSink(path)
    try:
        with time_machine.travel(NOW, tick=False):
            export_build(user=user, options=ExportOptions(format=fmt, project="golden", dates=dates, k=2), sink=sink)
    finally:
        sink.close()
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist() if name != "manifest.json"}


def _comparable(name: str, data: bytes) -> tuple[str, bytes]:
    """Parquet files carry the writer's version: compare their rows (as JSON lines)."""
    if not name.endswith(".parquet"):
        return name, data
    rows = pq.read_table(io.BytesIO(data)).to_pylist()
    return name + ".jsonl", b"".join(json.dumps(r, default=str, sort_keys=True).encode() + b"\n" for r in rows)


@pytest.mark.parametrize(("fmt", "dates"), CASES)
def test_export_content_is_unchanged_for_a_fixed_cohort(tmp_path, fixed_cohort, registry_admin, fmt, dates):
    got = dict(_comparable(name, data) for name, data in _export(tmp_path, registry_admin, fmt, dates).items())
    directory = GOLDEN / f"{fmt}-{dates}"
    if os.environ.get("EXPORT_GOLDEN_WRITE"):
        for name, data in got.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(data)
    expected = {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}
    assert sorted(got) == sorted(expected)
    for name, data in expected.items():
        assert got[name] == data, f"{fmt}-{dates}/{name} differs"
    if fmt == "csv":  # the cohort reaches every table
        assert not [name for name, data in got.items() if data.count(b"\n") < 2]
