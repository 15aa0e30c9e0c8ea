"""The export's SQL: every table sorts once (inside, on the values as stored), and the
outer query that writes the export's text never sorts again."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from django.db import connection

from registry.exports import tables
from registry.exports.cohort import ExportOptions, cohort_build
from registry.exports.readers import Reader


def test_order_keys_keep_their_modifiers_and_sort_patients_by_position():
    assert tables.order_keys(tables.TABLES_BY_NAME["diagnoses"]) == [
        ("x.ord", ""),
        ("d.diagnosis_date", " NULLS LAST"),
        ("d.id", ""),
    ]
    assert tables.order_keys(tables.TABLES_BY_NAME["labs"]) == [("x.ord", ""), ("l.collected_on", ""), ("l.id", "")]


def _plan_nodes(plan: dict) -> list[str]:
    return [plan["Node Type"]] + [n for child in plan.get("Plans", []) for n in _plan_nodes(child)]


@pytest.mark.django_db
@pytest.mark.parametrize("for_csv", [True, False])
@pytest.mark.parametrize(("dates", "date_from"), [("shifted", None), ("relative", dt.date(2020, 1, 1))])
def test_every_table_is_sorted_once_before_it_is_formatted(cohort, registry_admin, for_csv, dates, date_from):
    with connection.cursor() as cur:
        cur.execute(f"SELECT DISTINCT analyte, unit FROM {tables.T_LAB}")
        units = tables.unit_params(cur.fetchall())
    options = ExportOptions(format="csv", k=2, dates=dates)
    found = cohort_build(user=registry_admin, options=options, key=b"k" * 32, using="default", today=dt.date.today())
    reader = Reader(
        connection,
        params={**found.params(), **tables.catalogue_params(), **units},
        dates=dates,
        date_from=date_from,
        date_to=None,
    )
    connection.ensure_connection()
    # bound client-side, as COPY binds them
    cur = psycopg.ClientCursor(connection.connection)
    for table in tables.TABLES:
        sql = tables.select_sql(table, dates, for_csv=for_csv, filtered=reader.filtered)
        cur.execute(f"EXPLAIN (FORMAT JSON) {sql}", reader.params)
        plan = cur.fetchone()[0][0]["Plan"]
        # the outer query reads the sorted subquery as it comes: no Sort above it
        assert plan["Node Type"] == "Subquery Scan", (table.name, plan["Node Type"])
        nodes = _plan_nodes(plan)
        assert nodes.count("Sort") + nodes.count("Incremental Sort") >= 1, table.name
