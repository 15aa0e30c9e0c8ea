"""Recompute throughput: trends, course responses and alerts for every patient.

Two cohorts: the demo cohort (``seed_demo``, written through the services) and a
synthetic 10,000-patient cohort (bulk inserts, ``bench/synthetic.py``). Each is
recomputed in-process (one process, ``patients_evaluate`` per chunk, as
``recompute_trends`` does; first evaluation, then again on unchanged data) and by real Celery
workers (``recompute_registry`` fan-out in chunks) with 1 and 2 worker processes.
Reports patients/s and lab results/s in bench/results/recompute.md.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL). The database is emptied first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _setup import ROOT, machine, setup, write  # noqa: E402

N_PATIENTS = int(os.environ.get("BENCH_PATIENTS", "10000"))
LABS_PER_PATIENT = int(os.environ.get("BENCH_LABS_PER_PATIENT", "20"))
CHUNK = int(os.environ.get("BENCH_CHUNK", "200"))
WORKER_COUNTS = (1, 2)


def in_process() -> float:
    from clinical.evaluation import patients_evaluate
    from clinical.tasks import chunks
    from registry.models import Patient

    ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
    t0 = time.perf_counter()
    for chunk in chunks(ids, CHUNK):
        patients_evaluate(patient_ids=chunk)
    return time.perf_counter() - t0


def with_workers(n: int) -> float:
    """Start a worker with ``n`` processes, fan out the registry, time until every
    patient was evaluated after the start."""
    import redis
    from django.utils import timezone

    from clinical.tasks import recompute_registry
    from registry.models import Patient

    url = os.environ["REDIS_URL"]
    redis.Redis.from_url(url).delete("celery", "unacked", "unacked_index")
    log_path = Path(tempfile.gettempdir()) / f"bench-recompute-worker-{n}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "registry", "worker", f"--concurrency={n}", "--loglevel=WARNING",
         "--without-gossip", "--without-mingle", "-n", f"bench{n}@%h"],
        cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(4)  # worker start-up, not part of the measurement
        total = Patient.objects.count()
        start = timezone.now()
        t0 = time.perf_counter()
        recompute_registry.delay(chunk_size=CHUNK)
        while Patient.objects.filter(evaluated_at__gte=start).count() < total:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited; see {log_path}")
            time.sleep(0.05)
        return time.perf_counter() - t0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()


def measure(label: str) -> list[str]:
    from clinical.models import Alert, LabResult, TrendSnapshot
    from registry.models import Patient

    patients, labs = Patient.objects.count(), LabResult.objects.count()
    rows = []
    runs = [("in-process, first evaluation", in_process), ("in-process, unchanged data", in_process)] + [
        (f"Celery, {n} worker process{'es' if n > 1 else ''}", lambda n=n: with_workers(n)) for n in WORKER_COUNTS
    ]
    for name, fn in runs:
        seconds = fn()
        rows.append(
            f"| {label} | {name} | {patients} | {labs} | {seconds:.1f} | {patients / seconds:.0f} | {labs / seconds:.0f} |"
        )
        print(rows[-1], flush=True)
    alerts, snaps = Alert.objects.count(), TrendSnapshot.objects.count()
    rows.append(f"| {label} | result | alerts: {alerts} | snapshots: {snaps} | | | |")
    return rows


def main() -> None:
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    setup()
    from django.core.management import call_command

    from bench import synthetic

    assert "REDIS_URL" in os.environ
    table = [
        "| cohort | how | patients | lab results | seconds | patients/s | labs/s |",
        "|---|---|---|---|---|---|---|",
    ]
    synthetic.reset()
    call_command("seed_demo", not_production=True, verbosity=0)
    table += measure("demo (seed_demo)")
    synthetic.reset()
    timings = synthetic.generate(patients=N_PATIENTS, labs_per_patient=LABS_PER_PATIENT)
    table += measure(f"synthetic {N_PATIENTS:,}")
    text = "\n".join(
        [
            "# Recompute throughput",
            "",
            f"Machine: {machine()}",
            "",
            f"Recompute = `clinical.evaluation.patients_evaluate` per chunk of {CHUNK} patients: load the",
            "chunk's labs, courses, doses, weights and alerts (5 queries), run every alert rule and the",
            "trend functions per patient, insert/update alerts, replace trend snapshots and course",
            "responses, clear the outbox flags, all in bulk (about 15 queries per chunk, plus one per",
            "1,000 rows written). In-process = the `recompute_trends` command's loop, run twice: the",
            "first evaluation inserts everything, the second finds the data unchanged.",
            f"Celery runs publish `recompute_registry` (chunks of {CHUNK} patients) to a prefork worker",
            "on Redis; the time runs from the publish until every patient's `evaluated_at` moved on",
            "(worker start-up excluded). The web process, PostgreSQL and the workers share the machine.",
            f"Synthetic cohort: {LABS_PER_PATIENT} lab results per patient, generated in {timings['total']:.0f} s.",
            "",
            *table,
            "",
        ]
    )
    write("recompute.md", text)


if __name__ == "__main__":
    main()
