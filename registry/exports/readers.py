"""Streaming reads of the export tables: ``COPY (SELECT ...) TO STDOUT`` for CSV, a
server-side (named) cursor fetched in batches for everything else. Nothing reads a whole
table into memory: a batch at a time, or a COPY block at a time."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator

from registry.exports.tables import Table, count_sql, select_sql

BATCH_ROWS = 5000
COPY_BLOCK_BYTES = 1 << 18
_cursor_ids = itertools.count(1)


class Reader:
    """Reads the tables of one export inside one read-only transaction on ``connection``
    (a Django connection; its psycopg connection does the streaming)."""

    def __init__(self, connection, *, params: dict, dates: str, date_from, date_to) -> None:
        self.connection = connection
        self.dates = dates
        self.filtered = bool(date_from or date_to)
        self.params = {
            **params,
            "date_from": date_from or dt.date(1, 1, 1),
            "date_to": date_to or dt.date(9999, 12, 31),
        }

    @property
    def _raw(self):
        self.connection.ensure_connection()
        return self.connection.connection

    def count(self, table: Table) -> int:
        with self._raw.cursor() as cur:
            cur.execute(count_sql(table, filtered=self.filtered), self.params)
            return int(cur.fetchone()[0])

    def copy_csv(self, table: Table, write: Callable[[bytes], object], on_rows: Callable[[int], None]) -> int:
        """Stream the table as CSV with a header through ``write``; returns the row count."""
        sql = select_sql(table, self.dates, for_csv=True, filtered=self.filtered)
        rows = -1  # the header line
        buf = bytearray()

        def flush() -> None:
            nonlocal rows
            # No exported text holds a newline (free text is never selected): lines are rows.
            n = buf.count(b"\n")
            write(bytes(buf))
            rows += n
            on_rows(n)
            buf.clear()

        with (
            self._raw.cursor() as cur,
            cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)", self.params) as cp,
        ):
            # COPY hands over one row per message: gather them so that hashing, deflating and
            # counting run on large blocks, not once per row.
            for block in cp:
                buf += block
                if len(buf) >= COPY_BLOCK_BYTES:
                    flush()
        if buf:
            flush()
        return max(rows, 0)

    def batches(self, table: Table, *, batch: int = BATCH_ROWS) -> Iterator[list[tuple]]:
        """The table's rows, typed (numbers as floats), a batch at a time."""
        sql = select_sql(table, self.dates, for_csv=False, filtered=self.filtered)
        with self._raw.cursor(name=f"export_{table.name}_{next(_cursor_ids)}") as cur:
            cur.itersize = batch
            cur.execute(sql, self.params)
            while True:
                rows = cur.fetchmany(batch)
                if not rows:
                    return
                yield rows

    def rows(self, table: Table) -> Iterator[tuple]:
        for batch in self.batches(table):
            yield from batch
