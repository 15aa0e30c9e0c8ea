"""Recompute throughput: trends, course responses and alerts for every patient.

The synthetic cohort (``bench/synthetic.py``: 10,000 patients, 20 lab results each) is
recomputed by real Celery workers (``recompute_registry`` fans the registry out in chunks
to a prefork worker with 2 processes on Redis) and in-process (one process,
``patients_evaluate`` per chunk, as the ``recompute_trends`` command does), each twice
over:

- first evaluation: every computed row (alerts, trend snapshots, course responses) and
  every patient's evaluation key is cleared before the run, so the run computes and
  writes everything;
- unchanged data: the same data evaluated again the same day: every patient's key
  (rules version, date, digest of the inputs) matches, nothing is computed or written but
  the patients' evaluation flags.

Each is repeated (median and p95 of lab results/s). The reference, timed in the same
run, is PostgreSQL computing per-patient aggregates of the same results in one statement
(per patient and analyte: count, latest value, min, max, mean), fetched by the client.

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
from _setup import ROOT, figure, machine, record, setup, write  # noqa: E402

N_PATIENTS = int(os.environ.get("BENCH_PATIENTS", "10000"))
LABS_PER_PATIENT = int(os.environ.get("BENCH_LABS_PER_PATIENT", "20"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
WORKER_PROCESSES = 2
TARGET = 30_000  # lab results/s, 2 worker processes (issue 14)

AGGREGATE_SQL = """
SELECT patient_id, analyte, count(*), min(canonical_value), max(canonical_value), avg(canonical_value),
       (array_agg(canonical_value ORDER BY collected_on DESC, id DESC))[1]
FROM clinical_labresult GROUP BY patient_id, analyte
"""


def clear_computed() -> None:
    """Forget every evaluation: the next one is a first evaluation."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("TRUNCATE clinical_alert, clinical_trendsnapshot, clinical_courseresponse")
        cur.execute("UPDATE registry_patient SET evaluation_key = ''")
        cur.execute("VACUUM ANALYZE registry_patient")


def aggregate() -> float:
    """Seconds for the per-patient aggregates in one statement, rows fetched."""
    from django.db import connection

    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(AGGREGATE_SQL)
        rows = cur.fetchall()
    elapsed = time.perf_counter() - t0
    assert rows
    return elapsed


def in_process() -> float:
    from clinical.evaluation import patients_evaluate
    from clinical.tasks import DEFAULT_CHUNK_SIZE, chunks
    from registry.models import Patient

    ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
    t0 = time.perf_counter()
    for chunk in chunks(ids, DEFAULT_CHUNK_SIZE):
        patients_evaluate(patient_ids=chunk)
    return time.perf_counter() - t0


class Worker:
    """A prefork Celery worker with ``n`` processes on the bench's Redis database."""

    def __init__(self, n: int) -> None:
        import redis

        self.redis = redis.Redis.from_url(os.environ["REDIS_URL"])
        self.redis.delete("celery", "unacked", "unacked_index")
        self.log_path = Path(tempfile.gettempdir()) / f"bench-recompute-worker-{n}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "registry", "worker", f"--concurrency={n}", "--loglevel=WARNING",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"bench{n}@%h"],
            cwd=ROOT, env=os.environ.copy(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        time.sleep(5)  # start-up, not part of any measurement

    def busy(self) -> bool:
        """A message is queued or held (acknowledged late: held until its body returned).
        Between a worker's pop and its hold the message is in neither, so idle is only a
        hint, confirmed in the database."""
        return bool(self.redis.llen("celery") or self.redis.hlen("unacked"))

    def recompute(self) -> float:
        """Publish the nightly recompute; seconds until every patient was evaluated."""
        from django.utils import timezone

        from clinical.tasks import recompute_registry
        from registry.models import Patient

        total = Patient.objects.count()
        start = timezone.now()
        t0 = time.perf_counter()
        recompute_registry.delay()
        while self.busy() or Patient.objects.filter(evaluated_at__gte=start).count() < total:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited; see {self.log_path}")
            if time.perf_counter() - t0 > 600:
                raise RuntimeError(f"recompute unfinished after 10 min; see {self.log_path}")
            time.sleep(0.01)
        return time.perf_counter() - t0

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()


def main() -> None:
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    setup()
    from bench import synthetic
    from clinical.models import Alert, CourseResponse, LabResult, TrendSnapshot
    from clinical.tasks import DEFAULT_CHUNK_SIZE
    from registry.models import Patient

    synthetic.reset()
    gen = synthetic.generate(patients=N_PATIENTS, labs_per_patient=LABS_PER_PATIENT)
    patients, labs = Patient.objects.count(), LabResult.objects.count()
    seconds: dict[str, list[float]] = {"aggregate": []}

    def run(name: str, fn, first: bool) -> None:
        for _ in range(REPEAT):
            if first:
                clear_computed()
            seconds.setdefault(name, []).append(fn())
            seconds["aggregate"].append(aggregate())  # the reference, interleaved
            print(f"{name}: {labs / seconds[name][-1]:,.0f} lab results/s", flush=True)

    run("in-process, first evaluation", in_process, first=True)
    outputs = (Alert.objects.count(), TrendSnapshot.objects.count(), CourseResponse.objects.count())
    run("in-process, unchanged data", in_process, first=False)
    worker = Worker(WORKER_PROCESSES)
    try:
        run(f"{WORKER_PROCESSES} worker processes, first evaluation", worker.recompute, first=True)
        run(f"{WORKER_PROCESSES} worker processes, unchanged data", worker.recompute, first=False)
    finally:
        worker.stop()
    assert (Alert.objects.count(), TrendSnapshot.objects.count(), CourseResponse.objects.count()) == outputs

    reference = [labs / s for s in seconds.pop("aggregate")]
    figures = [
        figure(
            f"recompute, {name}",
            [labs / s for s in runs],
            "lab results/s",
            target=TARGET if "worker" in name else None,
            reference=reference,
            reference_name="per-patient aggregates in one SQL statement",
            note=f"{patients:,} patients, {labs:,} results, chunks of {DEFAULT_CHUNK_SIZE}",
        )
        for name, runs in seconds.items()
    ]
    record(
        "recompute",
        figures,
        notes="2 worker processes: a prefork Celery worker on Redis, chunks via recompute_registry",
    )

    def row(name: str, runs: list[float]) -> str:
        rates = sorted(labs / s for s in runs)
        return f"| {name} | {len(runs)} | {rates[len(rates) // 2]:,.0f} | {min(rates):,.0f} – {max(rates):,.0f} |"

    text = "\n".join(
        [
            "# Recompute throughput",
            "",
            f"Machine: {machine()}",
            "",
            "Recompute = `clinical.evaluation.patients_evaluate` per chunk of "
            f"{DEFAULT_CHUNK_SIZE} patients (the default of `recompute_registry` and `recompute_trends`). "
            "A chunk reads its patients with a digest of their inputs (one query); a patient whose key "
            "(rules version, evaluation date, digest) equals the one stored by their last evaluation is "
            "unchanged and skipped. The others' records are read in 5 queries, the pure rules and trends "
            "run per patient, new alerts, snapshots and responses go in with one COPY per table, changed "
            "ones are updated, unchanged ones are not written; the flags and keys are stored in one UPDATE.",
            "",
            "- *first evaluation*: computed rows and keys cleared before each run (everything computed and written);",
            "- *unchanged data*: the same data again the same day (nothing computed, only the flags written);",
            f"- *{WORKER_PROCESSES} worker processes*: `recompute_registry` published to a prefork Celery worker "
            f"(`--concurrency={WORKER_PROCESSES}`) on Redis; the time runs from the publish until the "
            "queue is empty, no message is held (acknowledged late: after the chunk committed) and every "
            "patient's `evaluated_at` moved on (checked only when Redis shows the queue idle); worker "
            "start-up excluded;",
            "- *in-process*: one process, the `recompute_trends` loop;",
            "- *reference*: per patient and analyte count, latest value, min, max and mean of the same "
            "results in one SQL statement, rows fetched; run after each measured run.",
            "",
            f"Data: synthetic cohort, {patients:,} patients, {labs:,} lab results "
            f"({LABS_PER_PATIENT} per patient), generated in {gen['total']:.0f} s; "
            f"outputs {outputs[0]:,} alerts, {outputs[1]:,} trend snapshots, {outputs[2]:,} course responses.",
            "PostgreSQL, the workers and this script share the machine's cores.",
            "",
            "| run | runs | median lab results/s | range |",
            "|---|---|---|---|",
            *(row(name, runs) for name, runs in seconds.items()),
            row("reference: per-patient aggregates in one SQL statement", [labs / r for r in reference]),
            "",
        ]
    )
    write("recompute.md", text)


if __name__ == "__main__":
    main()
