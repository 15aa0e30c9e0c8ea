"""Build one research export: choose the cohort, stream every table through the format's
writer into a sink, add the data dictionary and the manifest.

All reads run in one read-only REPEATABLE READ transaction (one consistent snapshot, so
counts and rows agree) on the export alias (the replica when one is configured).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from registry.db_router import reading_from_replica
from registry.exports import cohort as cohort_mod
from registry.exports import deid, keys
from registry.exports.cohort import ExportOptions
from registry.exports.readers import Reader
from registry.exports.sinks import Sink
from registry.exports.tables import T_LAB, TABLES, catalogue_params, unit_params

CSV, PARQUET, FHIR, PHENOPACKETS = "csv", "parquet", "fhir", "phenopackets"
FORMATS = (CSV, PARQUET, FHIR, PHENOPACKETS)
MANIFEST_VERSION = 1


class ExportUnavailable(Exception):
    """The database cannot stream an export (the embedded SQLite demo database)."""


class Progress:
    """Counts rows written and reports at most every ``interval`` seconds."""

    def __init__(self, total: int, report: Callable[[int, int], None] | None, interval: float = 0.5):
        self.total = max(total, 1)
        self.done = 0
        self.report = report
        self.interval = interval
        self._last = 0.0

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.report and now - self._last >= self.interval:
            self._last = now
            self.report(min(self.done, self.total), self.total)

    def finish(self) -> None:
        if self.report:
            self.report(self.total, self.total)


@dataclass
class ExportResult:
    counts: dict[str, int]
    manifest: dict


def _versions() -> dict[str, str]:
    out = {}
    for name in ("Django", "pyarrow", "fhir.resources", "phenopackets", "psycopg"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[name] = "not installed"
    return out


def _deid_settings(options: ExportOptions, cohort) -> dict:
    return {
        "pseudonym": "HMAC-SHA256 of the patient UUID with the project's key (kept outside the database)",
        "project": options.project,
        "dates": options.dates,
        "date_shift": (
            f"per patient, 0-{deid.SHIFT_RANGE_DAYS - 1} days back, derived from an HMAC with the project key"
            if options.dates == "shifted"
            else None
        ),
        "relative_dates": (
            "days since the patient's anchor: first diagnosis date, else first visit, else first lab"
            if options.dates == "relative"
            else None
        ),
        "birth": "year only; removed for ages of 90 or over (age shown as '90+')",
        "free_text": "none exported (visit, injection-site, diagnosis and course notes, dose reasons, alert notes)",
        "identity": "PatientIdentity (names, date of birth, MRN, contact) is never read",
        "consent": "only patients whose research consent is in force at export time",
        "small_cells": cohort.report.as_dict(),
    }


def export_build(
    *,
    user,
    options: ExportOptions,
    sink: Sink,
    progress: Callable[[int, int], None] | None = None,
    now: dt.datetime | None = None,
) -> ExportResult:
    now = now or timezone.now()
    key = keys.project_key(options.project)
    with reading_from_replica() as alias:
        conn = connections[alias]
        if conn.vendor != "postgresql":
            raise ExportUnavailable("Research exports stream from PostgreSQL; this installation uses SQLite.")
        outer = conn.in_atomic_block
        with transaction.atomic(using=alias):
            with conn.cursor() as cur:
                if not outer:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                # One big sorted stream per table: sort in memory, skip JIT compilation
                # (seconds of planning that a streaming export never wins back), and let one
                # statement stream a whole table.
                cur.execute(
                    "SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true), "
                    "set_config('statement_timeout', %s, true)",
                    [settings.EXPORT_WORK_MEM, str(settings.EXPORT_STATEMENT_TIMEOUT_MS)],
                )
                cur.execute(f"SELECT DISTINCT analyte, unit FROM {T_LAB}")
                units = unit_params(cur.fetchall())
            cohort = cohort_mod.cohort_build(user=user, options=options, key=key, using=alias, today=now.date())
            reader = Reader(
                conn,
                params={**cohort.params(), **catalogue_params(), **units},
                dates=options.dates,
                date_from=options.date_from,
                date_to=options.date_to,
            )
            total = len(cohort.patients) + sum(reader.count(t) for t in TABLES)
            tracker = Progress(total, progress)
            counts = _write(options, sink, reader, cohort, tracker, now)
    if options.format in (CSV, PARQUET):
        from registry.exports.tabular import write_dictionary

        write_dictionary(sink, options.dates)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "format": options.format,
        "created_at": now.isoformat(),
        "filters": options.as_filters(),
        "counts": counts,
        "deidentification": _deid_settings(options, cohort),
        "versions": _versions(),
        "files": dict(sink.entries),
        "compression": sink.compression,
    }
    sink.write_bytes("manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode())
    tracker.finish()
    return ExportResult(counts=counts, manifest=manifest)


def _write(
    options: ExportOptions, sink: Sink, reader: Reader, cohort, tracker: Progress, now: dt.datetime
) -> dict[str, int]:
    fmt = options.format
    if fmt == CSV:
        from registry.exports.tabular import write_csv

        return write_csv(sink, reader, cohort, tracker)
    if fmt == PARQUET:
        from registry.exports.tabular import write_parquet

        return write_parquet(sink, reader, cohort, tracker)
    if fmt == FHIR:
        from registry.exports.fhir import write_fhir

        return write_fhir(sink, reader, cohort, tracker, project=options.project)
    if fmt == PHENOPACKETS:
        from registry.exports.phenopackets import write_phenopackets

        return write_phenopackets(sink, reader, cohort, tracker, now=now, project=options.project)
    raise ValueError(f"unknown format {fmt!r}")
