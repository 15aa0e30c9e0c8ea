"""The evaluation's reads of what it stored before, and its writes, in bulk and without
model instances.

Rows travel as plain data (:class:`clinical.alert_lifecycle.AlertRow`, dicts of model
``attname`` -> value). On PostgreSQL new rows go in with one ``COPY`` per table and chunk;
elsewhere (the SQLite demo) through ``bulk_create``. Trend snapshots and course responses
are synchronised, not replaced: a row whose values did not change is not written (its
``computed_at`` stays the time those values were first computed), a changed one is
updated in place, a new one inserted, one no longer computed deleted.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection, models
from django.db.models import Q

from clinical import fingerprint
from clinical.alert_lifecycle import ALERT_FIELDS, ALERT_UPDATE_FIELDS, AlertRow
from clinical.models import Alert, CourseResponse, TrendSnapshot
from registry.models import Patient

# Rows per UPDATE statement, and patients per flag-clearing UPDATE where it is one
# OR-term per patient (not PostgreSQL).
WRITE_BATCH = 1000
FLAG_BATCH = 250

# First key of the per-patient advisory lock (PostgreSQL), so that two evaluations of
# one patient never interleave while writers are never blocked by an evaluation.
EVALUATION_LOCK_NAMESPACE = 52_011

SNAPSHOT_KEY = ("patient_id", "analyte")
SNAPSHOT_VALUES = (
    "course_id",
    "n_values",
    "latest_value",
    "latest_on",
    "baseline_value",
    "baseline_on",
    "nadir_value",
    "nadir_on",
    "slope_per_year",
    "months",
)
RESPONSE_KEY = ("course_id",)
RESPONSE_VALUES = ("response_class", "hba1c_change", "tg_percent_change", "provisional")


def postgres() -> bool:
    return connection.vendor == "postgresql"


def id_array(ids: Iterable[int]) -> str:
    """Integer ids as one PostgreSQL array literal (``%s::integer[]``): one quoted string
    rather than a list the driver adapts element by element."""
    return "{" + ",".join(str(int(i)) for i in ids) + "}"


def lock_patients(patient_ids: list[int]) -> None:
    """Take the evaluation lock of every patient of the chunk, in id order (one query)."""
    if postgres():
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_advisory_xact_lock(%s, ids.id) FROM "
                "(SELECT DISTINCT unnest(%s::integer[]) AS id ORDER BY 1) AS ids",
                [EVALUATION_LOCK_NAMESPACE, id_array(patient_ids)],
            )
    # SQLite serialises writers on the database file; the unique constraints and
    # ignore_conflicts below cover the rest.


def read_patients(patient_ids: list[int]) -> list[dict[str, Any]]:
    """The chunk's patients in id order, each with what the evaluation reads of them and
    (PostgreSQL) the digest of their inputs and their stored key: one query. Elsewhere
    ``digest`` is None."""
    if postgres():
        with connection.cursor() as cur:
            cur.execute(fingerprint.PATIENTS_SQL, [id_array(patient_ids)])
            return [dict(zip(fingerprint.PATIENT_COLUMNS, row, strict=True)) for row in cur.fetchall()]
    return [
        {**p, "digest": None, "labs": None}
        for p in Patient.objects.filter(pk__in=patient_ids).order_by("id").values(*fingerprint.PATIENT_COLUMNS[:-2])
    ]


# --------------------------------------------------------------------------------------
# Reads of the stored outputs
# --------------------------------------------------------------------------------------


def _stored(
    model: type[models.Model], names: Sequence[str], condition: Q, pg_where: str, ids: list[int]
) -> list[tuple]:
    """Rows of ``model`` as tuples of ``names`` (``attname``s): plain SQL on PostgreSQL
    (``pg_where`` with the id array as its one parameter), the ORM elsewhere."""
    if not postgres():
        return list(model.objects.filter(condition).order_by().values_list(*names))
    fields = [model._meta.get_field(n) for n in names]
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(f.column for f in fields)} FROM {model._meta.db_table} t WHERE {pg_where}",
            [id_array(ids)],
        )
        rows = cur.fetchall()
    json_at = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    if not json_at:
        return rows
    out = []
    for row in rows:
        row = list(row)
        for i in json_at:
            if row[i] is not None:
                row[i] = json.loads(row[i])  # the driver hands jsonb over as text, as to the ORM
        out.append(tuple(row))
    return out


def stored_alerts(patient_ids: list[int]) -> dict[int, dict[tuple[str, str], AlertRow]]:
    """Every stored alert of the patients, by (rule, subject), as rows."""
    out: dict[int, dict[tuple[str, str], AlertRow]] = defaultdict(dict)
    if not patient_ids:
        return out
    names = ("id", *ALERT_FIELDS)
    condition = Q(patient_id__in=patient_ids)
    for values in _stored(Alert, names, condition, "t.patient_id = ANY(%s::integer[])", patient_ids):
        row = AlertRow(**dict(zip(names, values, strict=True)))
        out[row.patient_id][(row.rule, row.subject_key)] = row
    return out


def stored_snapshots(patient_ids: list[int]) -> dict[tuple, tuple[int, dict[str, Any]]]:
    names = ("id", *SNAPSHOT_KEY, *SNAPSHOT_VALUES)
    rows = _stored(
        TrendSnapshot, names, Q(patient_id__in=patient_ids), "t.patient_id = ANY(%s::integer[])", patient_ids
    )
    return _keyed(rows, SNAPSHOT_KEY, SNAPSHOT_VALUES)


def stored_responses(patient_ids: list[int]) -> dict[tuple, tuple[int, dict[str, Any]]]:
    names = ("id", *RESPONSE_KEY, *RESPONSE_VALUES)
    rows = _stored(
        CourseResponse,
        names,
        Q(course__patient_id__in=patient_ids),
        "t.course_id IN (SELECT id FROM clinical_treatmentcourse WHERE patient_id = ANY(%s::integer[]))",
        patient_ids,
    )
    return _keyed(rows, RESPONSE_KEY, RESPONSE_VALUES)


def _keyed(rows: list[tuple], key: Sequence[str], values: Sequence[str]) -> dict[tuple, tuple[int, dict[str, Any]]]:
    """(pk, *key, *values) tuples -> natural key -> (pk, {value name: value})."""
    n = len(key)
    return {tuple(r[1 : 1 + n]): (r[0], dict(zip(values, r[1 + n :], strict=True))) for r in rows}


# --------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------


def _db_value(field: models.Field, value: Any) -> Any:
    if value is not None and isinstance(field, models.JSONField):
        return json.dumps(value)
    return value


def insert(model: type[models.Model], names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert rows (tuples of values in ``names`` order, ``attname``s): one ``COPY`` on
    PostgreSQL, ``bulk_create`` (conflicts ignored) elsewhere."""
    rows = list(rows)
    if not rows:
        return
    fields = [model._meta.get_field(n) for n in names]
    if not postgres():
        model.objects.bulk_create(
            [model(**dict(zip(names, row, strict=True))) for row in rows], batch_size=WRITE_BATCH, ignore_conflicts=True
        )
        return
    json_at = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    sql = f"COPY {model._meta.db_table} ({', '.join(f.column for f in fields)}) FROM STDIN"
    started = time.perf_counter()
    with connection.cursor() as cur, cur.cursor.copy(sql) as copy:
        for row in rows:
            if json_at:
                row = list(row)
                for i in json_at:
                    row[i] = _db_value(fields[i], row[i])
            copy.write_row(row)
    if connection.queries_logged:  # as Django logs its own queries (query counts in tests)
        connection.queries_log.append(
            {"sql": f"{sql} -- {len(rows)} rows", "time": f"{time.perf_counter() - started:.3f}"}
        )


def _json_default(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} in an update")


def update(model: type[models.Model], names: Sequence[str], rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Update ``names`` of rows given as (pk, {attname: value}). PostgreSQL: one UPDATE
    joined to the rows passed as one JSON array (``jsonb_to_recordset``, typed by the
    model's columns); elsewhere ``bulk_update``, whose CASE per field and row costs
    milliseconds per row."""
    if not rows:
        return
    if not postgres():
        model.objects.bulk_update([model(pk=pk, **values) for pk, values in rows], list(names), batch_size=WRITE_BATCH)
        return
    pk = model._meta.pk
    fields = [model._meta.get_field(n) for n in names]
    qn = connection.ops.quote_name
    columns = ", ".join(f"{qn(f.column)} {f.db_type(connection)}" for f in [pk, *fields])
    assignments = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in fields)
    sql = (
        f"UPDATE {qn(model._meta.db_table)} AS t SET {assignments} "
        f"FROM jsonb_to_recordset(%s::jsonb) AS v({columns}) WHERE t.{qn(pk.column)} = v.{qn(pk.column)}"
    )
    for i in range(0, len(rows), WRITE_BATCH):
        payload = [
            {pk.column: pk_value, **{f.column: values[f.attname] for f in fields}}
            for pk_value, values in rows[i : i + WRITE_BATCH]
        ]
        with connection.cursor() as cur:
            cur.execute(sql, [json.dumps(payload, default=_json_default)])


_alert_values = operator.attrgetter(*ALERT_FIELDS)


def insert_alerts(rows: list[AlertRow], now: dt.datetime) -> None:
    for row in rows:
        row.public_id = uuid.uuid4()
        row.created_at = row.updated_at = now
    insert(Alert, ALERT_FIELDS, map(_alert_values, rows))


def update_alerts(rows: list[AlertRow]) -> None:
    update(Alert, ALERT_UPDATE_FIELDS, [(r.id, {f: getattr(r, f) for f in ALERT_UPDATE_FIELDS}) for r in rows])


def sync(
    model: type[models.Model],
    key: Sequence[str],
    values: Sequence[str],
    stored: dict[tuple, tuple[int, dict[str, Any]]],
    computed: list[dict[str, Any]],
    now: dt.datetime,
) -> tuple[int, int, int]:
    """Bring the stored rows in line with the computed ones (dicts of key and value
    fields): insert new keys, update changed values (and ``computed_at``), delete keys no
    longer computed. Unchanged rows are not written. Returns (inserted, updated, deleted)."""
    key_of, values_of = operator.itemgetter(*key), operator.itemgetter(*values)
    one_key = len(key) == 1  # itemgetter of one field gives the value, not a tuple
    new, changed, seen = [], [], set()
    for row in computed:
        k = (key_of(row),) if one_key else key_of(row)
        seen.add(k)
        old = stored.get(k)
        if old is None:
            new.append((*k, *values_of(row), now))
        elif values_of(old[1]) != values_of(row):
            changed.append((old[0], {**{f: row[f] for f in values}, "computed_at": now}))
    gone = [pk for k, (pk, _) in stored.items() if k not in seen]
    insert(model, [*key, *values, "computed_at"], new)
    update(model, [*values, "computed_at"], changed)
    if gone:
        model.objects.filter(pk__in=gone).delete()
    return len(new), len(changed), len(gone)


def sync_snapshots(patient_ids: list[int], computed: list[dict[str, Any]], now: dt.datetime) -> None:
    sync(TrendSnapshot, SNAPSHOT_KEY, SNAPSHOT_VALUES, stored_snapshots(patient_ids), computed, now)


def sync_responses(patient_ids: list[int], computed: list[dict[str, Any]], now: dt.datetime) -> None:
    sync(CourseResponse, RESPONSE_KEY, RESPONSE_VALUES, stored_responses(patient_ids), computed, now)


def clear_flags(seen_dirty: dict[int, dt.datetime | None], keys: dict[int, str], now: dt.datetime) -> set[int]:
    """Clear the outbox flag of the patients whose ``dirty_since`` is still the value read
    at the start, and store their evaluation key: a write that committed meanwhile moved
    ``dirty_since`` on, and its own evaluation (or the sweep) will see the flag. Returns the
    patients cleared (one query on PostgreSQL)."""
    pids = list(seen_dirty)
    if postgres():
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE registry_patient AS p SET needs_evaluation = false, evaluated_at = %s, "
                "evaluation_key = v.key "
                "FROM unnest(%s::integer[], %s::timestamptz[], %s::text[]) AS v(id, seen, key) "
                "WHERE p.id = v.id AND p.dirty_since IS NOT DISTINCT FROM v.seen RETURNING p.id",
                [now, id_array(pids), [seen_dirty[p] for p in pids], [keys.get(p, "") for p in pids]],
            )
            return {row[0] for row in cur.fetchall()}
    cleared = 0
    for i in range(0, len(pids), FLAG_BATCH):
        q = Q()
        for pid in pids[i : i + FLAG_BATCH]:
            seen = seen_dirty[pid]
            q |= Q(pk=pid, dirty_since__isnull=True) if seen is None else Q(pk=pid, dirty_since=seen)
        cleared += Patient.objects.filter(q).update(needs_evaluation=False, evaluated_at=now)
    if cleared == len(pids):
        return set(pids)
    if cleared == 0:
        return set()
    return set(
        Patient.objects.filter(pk__in=pids, needs_evaluation=False, evaluated_at=now).values_list("id", flat=True)
    )
