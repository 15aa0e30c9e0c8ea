"""Bulk lab import at the size the import promises: a 100,000-row CSV.

Times the preview (parse, validate every row, resolve patients, find duplicates) and the
confirm (validate again against the current database, insert results and audit rows in
one transaction, mark patients for evaluation), as the web UI, the API and
``manage.py import_labs`` all run them.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _setup import machine, setup, write  # noqa: E402

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
PATIENTS = 500


def build_csv(codes: list[str], rows: int, today: dt.date) -> bytes:
    rng = random.Random(7)
    mix = [("triglycerides", "mg/dL", 80, 3000), ("2571-8", "mg/dL", 80, 3000), ("hba1c", "mmol/mol", 30, 110),
           ("alt", "U/L", 10, 200), ("glucose", "mmol/L", 3.5, 20)]  # fmt: skip
    out = io.StringIO()
    out.write("registry_code,analyte,value,unit,collected_on,fasting\n")
    for i in range(rows):
        analyte, unit, lo, hi = mix[i % len(mix)]
        day = today - dt.timedelta(days=1 + (i // len(codes)))
        out.write(f"{codes[i % len(codes)]},{analyte},{rng.uniform(lo, hi):.1f},{unit},{day.isoformat()},yes\n")
    return out.getvalue().encode()


def main() -> None:
    setup()
    from bench import synthetic
    from clinical.evaluation import patients_evaluate
    from clinical.services.lab_import import lab_import_confirm, lab_import_upload
    from registry.celery import app

    # Time the write path as the web request sees it: the evaluations are published for the
    # workers (here an in-memory broker nobody reads), then timed on their own below.
    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://"
    from clinical.models import LabResult
    from registry.models import AuditEvent, Patient

    synthetic.reset()
    synthetic.generate(patients=PATIENTS * 3, labs_per_patient=0)
    user = synthetic.bench_user("BENCH-A")
    codes = list(Patient.objects.filter(home_site__code="BENCH-A").values_list("registry_code", flat=True))
    content = build_csv(codes, ROWS, dt.date.today())

    t0 = time.perf_counter()
    lab_import, plan = lab_import_upload(user=user, filename="bench.csv", content=content)
    preview = time.perf_counter() - t0
    assert plan.error_count == 0, plan.report_rows()[:3]
    labs_before, audit_before = LabResult.objects.count(), AuditEvent.objects.count()
    t1 = time.perf_counter()
    lab_import, plan = lab_import_confirm(lab_import=lab_import, by=user)
    confirm = time.perf_counter() - t1
    imported = LabResult.objects.count() - labs_before
    audited = AuditEvent.objects.count() - audit_before
    flagged = list(Patient.objects.filter(needs_evaluation=True).values_list("id", flat=True))
    t2 = time.perf_counter()
    for i in range(0, len(flagged), 200):
        patients_evaluate(patient_ids=flagged[i : i + 200])
    evaluation = time.perf_counter() - t2
    lines = [
        "# Bulk lab import",
        "",
        f"Machine: {machine()}",
        "",
        f"File: {ROWS} rows, {len(content) / 1e6:.1f} MB, {len(codes)} patients of one site, mixed analyte codes, "
        "LOINC aliases and units.",
        "",
        "| step | seconds | rows/s |",
        "|---|---|---|",
        f"| preview (upload, parse, validate, resolve patients, duplicates) | {preview:.1f} | {ROWS / preview:,.0f} |",
        f"| confirm (re-validate, insert results + audit rows, mark patients) | {confirm:.1f} | {ROWS / confirm:,.0f} |",
        f"| total for the user | {preview + confirm:.1f} | |",
        f"| then, in the workers: evaluation of the {len(flagged)} patients (chunks of 200, one process) "
        f"| {evaluation:.1f} | {ROWS / evaluation:,.0f} |",
        "",
        f"Imported {imported} results with {audited} audit rows; status {lab_import.status}.",
    ]
    write("lab_import.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
