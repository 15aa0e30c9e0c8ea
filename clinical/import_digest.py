"""What the audit event of a lab import proves about its rows (pure, no database).

A lab import writes one audit event (``registry.audit.audit_record_for_patients``) instead
of one per result. The event names the results exactly, as ranges of their ids
(:func:`id_ranges`), and carries a SHA-256 over the rows as written (:func:`rows_digest`),
in a canonical text that the stored rows give back: one line per result in id order,
tab-separated, decimals without trailing zeros, dates in ISO form, fasting as ``t``,
``f`` or empty. The event is in the hash chain, so neither the ids nor the digest can
change unseen; recomputing the digest over the stored rows
(``clinical.selectors.imports.import_rows_digest``) shows whether the rows are still
the ones imported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal

# The columns the digest covers, in order (the values a result was imported with).
DIGEST_FIELDS = (
    "id",
    "public_id",
    "patient_id",
    "analyte",
    "value",
    "unit",
    "canonical_value",
    "collected_on",
    "fasting",
    "created_by_id",
)


def decimal_text(value: Decimal) -> str:
    """``460``, ``5.2``, ``0.0001``: the same text for 460 and 460.000000 (and ``0`` for a
    zero typed as ``-0``, which the database stores as 0)."""
    return "0" if value.is_zero() else format(value.normalize(), "f")


def row_text(
    id: int,
    public_id: uuid.UUID | str,
    patient_id: int,
    analyte: str,
    value: Decimal,
    unit: str,
    canonical_value: Decimal,
    collected_on: dt.date,
    fasting: bool | None,
    created_by_id: int | None,
) -> str:
    """One result as its canonical line (without the newline). ``public_id`` is a UUID or
    its 32 lower-case hex digits."""
    hex_id = public_id.hex if isinstance(public_id, uuid.UUID) else public_id
    return "\t".join(
        (
            str(id),
            hex_id,
            str(patient_id),
            analyte,
            decimal_text(value),
            unit,
            decimal_text(canonical_value),
            collected_on.isoformat(),
            "" if fasting is None else "t" if fasting else "f",
            "" if created_by_id is None else str(created_by_id),
        )
    )


def digest_of_lines(lines: Iterable[str]) -> str:
    """SHA-256 (hex) over the canonical lines, each followed by a newline."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()


def rows_digest(rows: Iterable[Sequence]) -> str:
    """The digest of rows given as tuples in :data:`DIGEST_FIELDS` order, in id order."""
    return digest_of_lines(row_text(*row) for row in rows)


def id_ranges(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as inclusive ``[first, last]`` runs: ``[1, 2, 3, 7]`` -> ``[[1, 3], [7, 7]]``."""
    out: list[list[int]] = []
    for i in sorted(ids):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        elif not out or i > out[-1][1]:
            out.append([i, i])
    return out


def ids_of(ranges: Iterable[Sequence[int]]) -> list[int]:
    """The ids of :func:`id_ranges`' runs, in order."""
    return [i for first, last in ranges for i in range(int(first), int(last) + 1)]


def in_ranges(ranges: Sequence[Sequence[int]], id: int) -> bool:
    return any(int(first) <= id <= int(last) for first, last in ranges)
