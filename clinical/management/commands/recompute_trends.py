"""Recompute trends, course responses and alerts for every patient (or some).

In-process by default, with a progress bar: each chunk is evaluated by
``clinical.evaluation.patients_evaluate`` with a bounded number of queries; patients whose
inputs, rules and date are unchanged since their last evaluation are skipped unless
``--force``. ``--async``
publishes one ``evaluate_patients`` message per chunk for the workers instead (the nightly
job's path).
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from clinical.evaluation import patients_evaluate
from clinical.tasks import DEFAULT_CHUNK_SIZE, chunks, fan_out
from registry.models import Patient


class Command(BaseCommand):
    help = "Recompute trends and alerts of the registry (in-process, or fanned out to workers with --async)."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="Patients per chunk.")
        parser.add_argument(
            "--async", action="store_true", dest="run_async", help="Publish chunks to the Celery workers."
        )
        parser.add_argument("--dirty-only", action="store_true", help="Only patients flagged for evaluation.")
        parser.add_argument("--patient", action="append", default=[], help="Registry code (repeatable).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Evaluate even the patients whose inputs, rules and date are unchanged since their last "
            "evaluation (after computed rows were removed or restored by hand).",
        )

    def handle(
        self,
        *args,
        chunk_size: int,
        run_async: bool,
        dirty_only: bool,
        patient: list[str],
        no_progress: bool,
        force: bool = False,
        **kw,
    ):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        qs = Patient.objects.order_by("id")
        if dirty_only:
            qs = qs.filter(needs_evaluation=True)
        if patient:
            qs = qs.filter(registry_code__in=patient)
            missing = set(patient) - set(qs.values_list("registry_code", flat=True))
            if missing:
                raise CommandError(f"Unknown registry code(s): {', '.join(sorted(missing))}.")
        ids = list(qs.values_list("id", flat=True))
        if run_async:
            n = fan_out(ids, chunk_size, force=force)
            self.stdout.write(f"Published {n} chunk(s) for {len(ids)} patient(s).")
            return
        started = time.perf_counter()
        labs = alerts_created = unchanged = 0
        with tqdm(total=len(ids), unit="patient", disable=no_progress, file=self.stderr._out) as bar:
            for chunk in chunks(ids, chunk_size):
                result = patients_evaluate(patient_ids=chunk, force=force)
                labs += result.labs
                alerts_created += result.created
                unchanged += result.unchanged
                bar.update(len(chunk))
        elapsed = time.perf_counter() - started
        rate = len(ids) / elapsed if elapsed else 0.0
        self.stdout.write(
            f"Recomputed {len(ids)} patient(s), {labs} lab result(s) in {elapsed:.1f} s "
            f"({rate:.0f} patients/s); {alerts_created} new alert(s); {unchanged} unchanged since their last "
            "evaluation."
        )
