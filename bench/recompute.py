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

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _setup import ROOT, figure, machine, percentile, record, setup, stop_group, write  # noqa: E402

N_PATIENTS = int(os.environ.get("BENCH_PATIENTS", "10000"))
LABS_PER_PATIENT = int(os.environ.get("BENCH_LABS_PER_PATIENT", "20"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
WORKER_PROCESSES = 2
TARGET = 30_000  # lab results/s, 2 worker processes (issue 14)

NOTES = [
    "## Notes",
    "",
    "- Where the time went before the evaluation was made incremental (cProfile and pyinstrument on "
    "`patients_evaluate`, 2,000-10,000 synthetic patients): Django model instances and `bulk_create`'s SQL "
    "compilation for every alert, snapshot and response (about a third of the Python time), the rules and "
    "trends re-sorting each analyte's labs on every call and converting thresholds and units on every value, "
    "alert messages, `bulk_update`'s CASE per field for changed alerts, the cyclic garbage collector walking "
    "the heap while a chunk allocated its rows, and on unchanged data all of it again plus deleting and "
    "re-inserting every snapshot. In PostgreSQL: inserting alerts (12 indexes) and their deferred foreign-key "
    "checks at commit.",
    "- CPU seconds per 3,000 synthetic patients (60,000 results), the same minutes, one process and its "
    "PostgreSQL backend, minimum of 3 runs (Python + PostgreSQL): first evaluation 3.59 + 0.97 before, 1.00 + "
    "0.86 after; unchanged data 2.62 + 0.51 before, 0.03 + 0.20 after; the next day (same data, new date: "
    "every patient evaluated, about 1,100 alerts updated) 4.97 + 0.61 before, 1.15 + 0.39 after.",
    "- What remains in a first evaluation: about half PostgreSQL (the digest of the inputs, COPY of about "
    "64,000 alerts and 50,000 snapshots into their indexes, the foreign-key checks at commit, the flags), "
    "half Python (rules, trends and messages per patient, reading the inputs, building the rows). The "
    "reference aggregates read the same 200,000 results but write nothing.",
    "- The evaluation date is part of the key: the nightly recompute evaluates every patient again (each "
    "day can move overdue monitoring, slopes, provisional responses); skipped are repeated evaluations "
    "the same day (the sweep, a second recompute, a re-run after a deploy that changed no rule module).",
]

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


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a process of this machine has used, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _backends(own: bool) -> list[int]:
    """PostgreSQL server processes of this database: this script's, or everyone else's
    (the workers' connections, kept across tasks)."""
    from django.db import connection

    with connection.cursor() as cur:
        if own:
            cur.execute("SELECT pg_backend_pid()")
        else:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        return [row[0] for row in cur.fetchall()]


class Meter:
    """CPU seconds spent by the evaluating processes (this one, or a worker's) and by
    their PostgreSQL backends during one run: what the recompute costs whatever else the
    machine runs."""

    def __init__(self, worker: Worker | None = None) -> None:
        self.worker = worker

    def _python(self) -> dict[int, float]:
        if self.worker is None:
            return {0: time.process_time()}
        import psutil

        main = psutil.Process(self.worker.proc.pid)
        out = {}
        for proc in [main, *main.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                out[proc.pid] = times.user + times.system
        return out

    def _database(self) -> dict[int, float]:
        out = {}
        for pid in _backends(own=self.worker is None):
            value = _proc_cpu(pid)
            if value is not None:
                out[pid] = value
        return out

    def __enter__(self) -> Meter:
        self.load = os.getloadavg()[0]
        self.py0, self.db0 = self._python(), self._database()
        return self

    def __exit__(self, *exc) -> None:
        py1, db1 = self._python(), self._database()
        self.python = sum(v - self.py0.get(k, 0.0) for k, v in py1.items())
        self.db = sum(v - self.db0.get(k, 0.0) for k, v in db1.items())


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
        stop_group(self.proc)
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
    spent: dict[str, list[Meter]] = {}

    def run(name: str, fn, first: bool, worker: Worker | None = None) -> None:
        for _ in range(REPEAT):
            if first:
                clear_computed()
            with Meter(worker) as meter:
                seconds.setdefault(name, []).append(fn())
            spent.setdefault(name, []).append(meter)
            seconds["aggregate"].append(aggregate())  # the reference, interleaved
            print(
                f"{name}: {labs / seconds[name][-1]:,.0f} lab results/s; CPU s {meter.python:.2f} Python + "
                f"{meter.db:.2f} PostgreSQL; load {meter.load:.1f}",
                flush=True,
            )

    run("in-process, first evaluation", in_process, first=True)
    outputs = (Alert.objects.count(), TrendSnapshot.objects.count(), CourseResponse.objects.count())
    run("in-process, unchanged data", in_process, first=False)
    worker = Worker(WORKER_PROCESSES)
    try:
        run(f"{WORKER_PROCESSES} worker processes, first evaluation", worker.recompute, first=True, worker=worker)
        run(f"{WORKER_PROCESSES} worker processes, unchanged data", worker.recompute, first=False, worker=worker)
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
    worker_first = spent[f"{WORKER_PROCESSES} worker processes, first evaluation"]
    cpu = percentile([m.python + m.db for m in worker_first], 50)
    record(
        "recompute",
        figures,
        notes=f"2 worker processes: a prefork Celery worker on Redis, chunks via recompute_registry. First "
        f"evaluation with the workers: {cpu:.1f} CPU s (workers + their PostgreSQL backends, median) for "
        f"{labs:,} results, {labs / cpu:,.0f} results per CPU second; load average at the starts: "
        + ", ".join(f"{m.load:.1f}" for m in worker_first),
    )

    def row(name: str, runs: list[float]) -> str:
        rates = sorted(labs / s for s in runs)
        meters = spent.get(name)
        if not meters:
            return f"| {name} | {len(runs)} | {rates[len(rates) // 2]:,.0f} | {min(rates):,.0f} – {max(rates):,.0f} | | | |"
        python = percentile([m.python for m in meters], 50)
        db = percentile([m.db for m in meters], 50)
        loads = ", ".join(f"{m.load:.1f}" for m in meters)
        return (
            f"| {name} | {len(runs)} | {rates[len(rates) // 2]:,.0f} | {min(rates):,.0f} – {max(rates):,.0f} "
            f"| {python:.2f} + {db:.2f} | {labs / (python + db):,.0f} | {loads} |"
        )

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
            "| run | runs | median lab results/s | range | CPU s, median: Python + PostgreSQL | results per CPU s "
            "| load at start |",
            "|---|---|---|---|---|---|---|",
            *(row(name, runs) for name, runs in seconds.items()),
            row("reference: per-patient aggregates in one SQL statement", [labs / r for r in reference]),
            "",
            "CPU s: user + system time of the evaluating processes (this script in-process; the worker's "
            "processes) and of their PostgreSQL backends (from /proc; the workers keep their connections "
            "across tasks), median over the runs. On a busy machine the wall time grows, the CPU seconds "
            "much less: two worker processes on two otherwise idle cores can at best reach about twice the "
            "results per CPU second.",
            "",
            *NOTES,
            "",
        ]
    )
    write("recompute.md", text)


if __name__ == "__main__":
    main()
