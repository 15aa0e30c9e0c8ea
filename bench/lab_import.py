"""Bulk lab import at the size the import promises: a 100,000-row CSV.

Times the preview (upload: parse, validate every row, resolve patients, find duplicates)
and the confirm (check the kept rows again against the current database, insert the
results, one audit event, mark patients for evaluation, in one transaction), as the web
UI, the API and ``manage.py import_labs`` all run them. Three runs, each a fresh file of
its own days (no run's rows are another's duplicates). The reference, measured in the
same run: PostgreSQL's own ``COPY FROM`` of the same 100,000 rows into
``clinical_labresult`` (all its indexes and checks, the deferred foreign keys fired),
inside a transaction that is rolled back.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from _setup import figure, machine, percentile, record, setup, write  # noqa: E402

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
RUNS = int(os.environ.get("BENCH_IMPORT_RUNS", "3"))
PATIENTS = 500  # of the user's site; the cohort has three sites
TARGET_ROWS_PER_S = 20_000
SPAN_DAYS = ROWS // PATIENTS + 1  # one file's days, before the next run's


def build_csv(codes: list[str], rows: int, last_day: dt.date, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    mix = [("triglycerides", "mg/dL", 80, 3000), ("2571-8", "mg/dL", 80, 3000), ("hba1c", "mmol/mol", 30, 110),
           ("alt", "U/L", 10, 200), ("glucose", "mmol/L", 3.5, 20)]  # fmt: skip
    out = io.StringIO()
    out.write("registry_code,analyte,value,unit,collected_on,fasting\n")
    for i in range(rows):
        analyte, unit, lo, hi = mix[i % len(mix)]
        day = last_day - dt.timedelta(days=i // len(codes))
        out.write(f"{codes[i % len(codes)]},{analyte},{rng.uniform(lo, hi):.1f},{unit},{day.isoformat()},yes\n")
    return out.getvalue().encode()


def backend_cpu() -> float | None:
    """CPU seconds the PostgreSQL backend of this connection has used (from /proc, when
    the server runs on this machine): what the database costs, whatever else runs."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, ValueError, IndexError):
        return None


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def copy_reference(labs, user_id: int) -> float:
    """Seconds for PostgreSQL to take the same rows by COPY FROM STDIN into
    clinical_labresult (the text is built beforehand), with the deferred foreign keys
    checked, then rolled back."""
    from django.db import connection, transaction

    from clinical.import_digest import decimal_text
    from clinical.models import LabResult

    now = dt.datetime.now(dt.UTC).isoformat()
    fasting = {True: "t", False: "f", None: ""}
    text = "".join(
        f"{uuid.uuid4().hex}\t{r.patient_id}\t{r.analyte}\t{decimal_text(r.value)}\t{r.unit}\t"
        f"{decimal_text(r.canonical_value)}\t{r.collected_on.isoformat()}\t{fasting[r.fasting]}\t{user_id}\t"
        f"import\t1\t{now}\t{now}\n"
        for r in labs
    ).encode()
    columns = ("public_id, patient_id, analyte, value, unit, canonical_value, collected_on, fasting, created_by_id, "
               "source, version, created_at, updated_at")  # fmt: skip
    with transaction.atomic():
        with connection.cursor() as cursor:
            t0 = time.perf_counter()
            with cursor.cursor.copy(
                f"COPY {LabResult._meta.db_table} ({columns}) FROM STDIN WITH (NULL '')"  # noqa: S608
            ) as copy:
                copy.write(text)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # what the commit would check
            elapsed = time.perf_counter() - t0
        transaction.set_rollback(True)
    # The rolled-back rows stay behind as dead tuples until vacuumed: clear them (and the
    # statistics) so that the next run's import does not pay for them. Not timed.
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {LabResult._meta.db_table}")
    return elapsed


def main() -> None:
    setup()
    from bench import synthetic
    from clinical.evaluation import patients_evaluate
    from clinical.models import LabResult
    from clinical.services.lab_import import lab_import_confirm, lab_import_upload
    from registry.celery import app
    from registry.models import AuditEvent, Patient

    # Time the write path as the web request sees it: the evaluations are published for the
    # workers (here an in-memory broker nobody reads); one evaluation is timed on its own below.
    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://"

    t_gen = time.perf_counter()
    synthetic.reset()
    synthetic.generate(patients=PATIENTS * 3, labs_per_patient=0)
    gen_s = time.perf_counter() - t_gen
    user = synthetic.bench_user("BENCH-A")
    codes = list(Patient.objects.filter(home_site__code="BENCH-A").values_list("registry_code", flat=True))
    today = dt.date.today()

    runs = []
    for run in range(RUNS):
        content = build_csv(codes, ROWS, today - dt.timedelta(days=1 + run * SPAN_DAYS), seed=7 + run)
        labs_before, audit_before = LabResult.objects.count(), AuditEvent.objects.count()
        load = os.getloadavg()[0]
        db0, c0, t0 = backend_cpu(), time.process_time(), time.perf_counter()
        lab_import, plan = lab_import_upload(user=user, filename=f"bench-{run}.csv", content=content)
        preview_s, preview_cpu = time.perf_counter() - t0, time.process_time() - c0
        assert plan.error_count == 0, plan.report_rows()[:3]
        db1, c1, t1 = backend_cpu(), time.process_time(), time.perf_counter()
        lab_import, plan = lab_import_confirm(lab_import=lab_import, by=user)
        confirm_s, confirm_cpu = time.perf_counter() - t1, time.process_time() - c1
        db2 = backend_cpu()
        imported = LabResult.objects.count() - labs_before
        audited = AuditEvent.objects.count() - audit_before
        assert imported == ROWS and lab_import.imported_count == ROWS, (imported, lab_import.imported_count)
        db3 = backend_cpu()
        copy_s = copy_reference(plan.labs, user.pk)
        runs.append(
            {"preview": preview_s, "confirm": confirm_s, "preview_cpu": preview_cpu, "confirm_cpu": confirm_cpu,
             "preview_db": _spent(db0, db1), "confirm_db": _spent(db1, db2), "copy_db": _spent(db3, backend_cpu()),
             "copy": copy_s, "audited": audited, "load": load, "bytes": len(content)}
        )  # fmt: skip
        if run == 0:  # the workers' side, once (not part of the figures): this import's patients
            flagged = list(Patient.objects.filter(needs_evaluation=True).values_list("id", flat=True))
            t2 = time.perf_counter()
            for i in range(0, len(flagged), 200):
                patients_evaluate(patient_ids=flagged[i : i + 200])
            evaluation_s = time.perf_counter() - t2
        print(
            f"run {run + 1}: preview {preview_s:.2f} s (cpu {preview_cpu:.2f}), confirm {confirm_s:.2f} s "
            f"(cpu {confirm_cpu:.2f}), COPY {copy_s:.2f} s, {audited} audit rows, load {load:.1f}",
            flush=True,
        )

    total = [ROWS / (r["preview"] + r["confirm"]) for r in runs]
    copy = [ROWS / r["copy"] for r in runs]
    figures = [
        figure(
            "preview + confirm, rows/s",
            total,
            "rows/s",
            target=TARGET_ROWS_PER_S,
            reference=copy,
            reference_name=f"PostgreSQL COPY FROM of the same {ROWS:,} rows",
            note="what the user waits for: upload with preview, then confirm (one transaction, one audit event)",
        ),
        figure("preview (upload), rows/s", [ROWS / r["preview"] for r in runs], "rows/s"),
        figure("confirm, rows/s", [ROWS / r["confirm"] for r in runs], "rows/s"),
        figure("PostgreSQL COPY FROM of the same rows, rows/s", copy, "rows/s", note="rolled back; reference"),
    ]
    lines = [
        "# Bulk lab import",
        "",
        f"Machine: {machine()}",
        "",
        f"File: {ROWS:,} rows ({runs[0]['bytes'] / 1e6:.1f} MB), {len(codes)} patients of one site (the cohort: "
        f"{PATIENTS * 3:,} patients over 3 sites, generated in {gen_s:.1f} s), mixed analyte codes, LOINC aliases "
        f"and units; {RUNS} runs, each a fresh file of its own {SPAN_DAYS} days.",
        "",
        "| run | preview s | confirm s | total s | rows/s | COPY FROM s | ratio | CPU s: preview, confirm, COPY "
        "(Python + PostgreSQL) | audit rows | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cpu(python: float, db: float | None) -> str:
        return f"{python:.2f}" if db is None else f"{python:.2f} + {db:.2f}"

    for i, r in enumerate(runs, 1):
        both = r["preview"] + r["confirm"]
        lines.append(
            f"| {i} | {r['preview']:.2f} | {r['confirm']:.2f} | {both:.2f} | {ROWS / both:,.0f} | {r['copy']:.2f} "
            f"| {r['copy'] / both:.2f} | {cpu(r['preview_cpu'], r['preview_db'])}; "
            f"{cpu(r['confirm_cpu'], r['confirm_db'])}; {cpu(0, r['copy_db'])} | {r['audited']} | {r['load']:.1f} |"
        )
    lines += [
        "",
        f"Median: {percentile(total, 50):,.0f} rows/s for preview + confirm (target {TARGET_ROWS_PER_S:,}); "
        f"PostgreSQL's COPY FROM of the same rows {percentile(copy, 50):,.0f} rows/s; ratio "
        f"{percentile(total, 50) / percentile(copy, 50):.2f}.",
        "",
        f"Then, in the workers: evaluation of the {len(flagged)} patients of the first import "
        f"({ROWS:,} results; chunks of 200, one process): {evaluation_s:.1f} s.",
        "",
        "## Method",
        "",
        "- Preview = `lab_import_upload` (decode, parse, check every row, resolve patients, find duplicates, store",
        "  the file and the checked rows). Confirm = `lab_import_confirm` (the checked rows again against the",
        "  database: patients still writable, duplicates, skips; insert by COPY with ids reserved from the",
        "  sequence; one audit event naming the ids with a SHA-256 of the rows; patients flagged in one UPDATE).",
        "- Wall time in one process. CPU time of that process and of its PostgreSQL backend (from /proc) shown",
        "  apart: on a busy machine the wall time grows, the CPU seconds much less. PostgreSQL runs on the same",
        "  2 cores.",
        "- Reference: the same rows as COPY text into clinical_labresult, `SET CONSTRAINTS ALL IMMEDIATE`, rollback.",
        "  The ratio is the import's rows/s over COPY's: the share of PostgreSQL's own insert speed the whole",
        "  import reaches, parsing and checking included.",
    ]
    cpu_note = ""
    if all(r["preview_db"] is not None and r["confirm_db"] is not None for r in runs):
        spent = [r["preview_cpu"] + r["preview_db"] + r["confirm_cpu"] + r["confirm_db"] for r in runs]
        python = percentile([r["preview_cpu"] + r["confirm_cpu"] for r in runs], 50)
        database = percentile([r["preview_db"] + r["confirm_db"] for r in runs], 50)
        copy_db = percentile([r["copy_db"] for r in runs], 50)
        loads = ", ".join(f"{r['load']:.1f}" for r in runs)
        cpu_note = (
            f" CPU seconds for preview + confirm (median): {python:.2f} in Python, {database:.2f} in the PostgreSQL "
            f"backend (COPY FROM alone: {copy_db:.2f}); {ROWS / percentile(spent, 50):,.0f} rows per CPU second "
            f"spent (load average at the start of the runs: {loads})."
        )
        lines[lines.index("## Method") : lines.index("## Method")] = [cpu_note.strip(), ""]
    write("lab_import.md", "\n".join(lines) + "\n")
    record(
        "lab_import",
        figures,
        notes=f"{ROWS:,}-row CSV, {len(codes)} patients, {RUNS} runs (fresh file each). One audit event per import. "
        f"Evaluation of the imported patients afterwards in the workers: {evaluation_s:.1f} s (not in the figures)."
        + cpu_note,
    )


if __name__ == "__main__":
    main()
