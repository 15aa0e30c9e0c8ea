"""The tabular formats: a CSV bundle and a Parquet bundle of the same tidy tables, each
with ``data_dictionary.csv`` (every column of every table) and, added by the builder,
``manifest.json``."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable

from registry.exports import deid
from registry.exports.cohort import Cohort, patient_row
from registry.exports.readers import Reader
from registry.exports.sinks import BackgroundWriter, Sink
from registry.exports.tables import (
    BOOLEAN,
    DATE,
    INTEGER,
    NUMBER,
    PATIENT_COLUMNS,
    STRING,
    TABLES,
    Col,
    Table,
)

DICTIONARY_HEADER = ("table", "column", "type", "unit", "code_system", "description")


def dictionary_rows(dates: str) -> Iterable[tuple[str, ...]]:
    for c in PATIENT_COLUMNS:
        yield (
            "patients",
            c.out_name(dates),
            c.out_type(dates),
            c.out_unit(dates),
            c.code_system,
            c.out_description(dates),
        )
    for t in TABLES:
        for c in t.columns:
            yield (
                t.name,
                c.out_name(dates),
                c.out_type(dates),
                c.out_unit(dates),
                c.code_system,
                c.out_description(dates),
            )


def write_dictionary(sink: Sink, dates: str) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DICTIONARY_HEADER)
    for row in dictionary_rows(dates):
        w.writerow([deid.neutralise_cell(v) for v in row])
    sink.write_bytes("data_dictionary.csv", buf.getvalue().encode())


# --------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------


def _csv_value(value):
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"  # the same spelling as PostgreSQL's COPY csv
    return deid.neutralise_cell(value)


def write_csv(sink: Sink, reader: Reader, cohort: Cohort, progress) -> dict[str, int]:
    counts = {}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.out_name(reader.dates) for c in PATIENT_COLUMNS])
    for p in cohort.patients:
        w.writerow([_csv_value(v) for v in patient_row(p, reader.dates)])
    sink.write_bytes("patients.csv", buf.getvalue().encode())
    counts["patients"] = len(cohort.patients)
    progress.add(len(cohort.patients))
    for table in TABLES:
        counts[table.name] = write_csv_table(sink, reader, table, progress.add)
    return counts


def write_csv_table(sink: Sink, reader: Reader, table: Table, on_rows) -> int:
    """One table as ``<name>.csv``; returns its row count. The COPY stream is read on this
    thread while a second one hashes and deflates the blocks read before (``on_rows``,
    the progress, stays on this thread: it may write to the database)."""
    with sink.open(f"{table.name}.csv") as fh, BackgroundWriter(fh.write) as writer:
        return reader.copy_csv(table, writer.write, on_rows)


# --------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------


def _arrow_type(kind: str):
    import pyarrow as pa

    return {STRING: pa.string(), INTEGER: pa.int64(), NUMBER: pa.float64(), BOOLEAN: pa.bool_(), DATE: pa.date32()}[
        kind
    ]


def arrow_schema(columns: tuple[Col, ...], dates: str):
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(
                c.out_name(dates), _arrow_type(c.out_type(dates)), metadata={"description": c.out_description(dates)}
            )
            for c in columns
        ]
    )


def _write_parquet(sink: Sink, name: str, schema, batches: Iterable[list[tuple]], progress) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 0
    # Parquet writes its footer last and the zip entry is not seekable: build the file on
    # disk (a batch at a time), then copy it into the sink.
    fd, tmp = tempfile.mkstemp(suffix=".parquet")
    os.close(fd)
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for rows in batches:
                columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
                arrays = [pa.array(col, type=field.type) for col, field in zip(columns, schema, strict=True)]
                writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
                n += len(rows)
                progress.add(len(rows))
        with open(tmp, "rb") as src, sink.open(name) as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                dst.write(block)
    finally:
        os.unlink(tmp)
    return n


def write_parquet(sink: Sink, reader: Reader, cohort: Cohort, progress) -> dict[str, int]:
    dates = reader.dates
    counts = {}
    patients = [patient_row(p, dates) for p in cohort.patients]
    counts["patients"] = _write_parquet(
        sink, "patients.parquet", arrow_schema(PATIENT_COLUMNS, dates), [patients] if patients else [], progress
    )
    for table in TABLES:
        counts[table.name] = _write_parquet(
            sink, f"{table.name}.parquet", arrow_schema(table.columns, dates), reader.batches(table), progress
        )
    return counts
