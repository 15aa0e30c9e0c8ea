"""Patient list and chart at registry scale: 50,000 patients, 1,000,000 lab results.

Times the clinician's list page (first page, search by code and name, filters, sort,
a deep page) and one chart, each as the median of several requests through Django's
test client, with its query count.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _setup import figure, machine, percentile, record, setup, write  # noqa: E402

N_PATIENTS = int(os.environ.get("BENCH_PATIENTS", "50000"))
LABS_PER_PATIENT = int(os.environ.get("BENCH_LABS_PER_PATIENT", "20"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "10"))


def main() -> None:
    setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench import synthetic
    from registry.models import Patient

    synthetic.reset()
    gen = synthetic.generate(patients=N_PATIENTS, labs_per_patient=LABS_PER_PATIENT)
    user = synthetic.bench_user("BENCH-A")
    client = synthetic.verified_client(user)
    some = Patient.objects.filter(home_site__code="BENCH-A").order_by("pk")[N_PATIENTS // 6]
    cases = [
        ("first page", "/patients/"),
        ("search registry code", f"/patients/?q={some.registry_code}"),
        ("search family name", f"/patients/?q=Bench{some.pk}"),
        ("filter subtype FPLD2", "/patients/?subtype=FPLD2"),
        ("filter on metreleptin", "/patients/?metreleptin=1"),
        ("sort by registry code desc", "/patients/?sort=-registry_code"),
        ("page 200", "/patients/?page=200"),
        ("patient chart", f"/patients/{some.public_id}/"),
    ]
    lines = [
        "# Patient list and chart at registry scale",
        "",
        f"Machine: {machine()}",
        "",
        f"Data: {N_PATIENTS} patients over 3 sites (the user sees one: {N_PATIENTS // 3}), "
        f"{int(gen['n_labs'])} lab results; generated in {gen['total']:.0f} s.",
        "",
        f"| request | status | median ms (of {REPEAT}) | p95 ms | max ms | queries |",
        "|---|---|---|---|---|---|",
    ]
    figures = []
    for label, url in cases:
        client.get(url)  # warm-up
        times = []
        status = None
        for _ in range(REPEAT):
            with CaptureQueriesContext(connection) as ctx:
                t0 = time.perf_counter()
                resp = client.get(url)
                times.append((time.perf_counter() - t0) * 1000)
            status = resp.status_code
        queries = len(ctx.captured_queries)
        lines.append(
            f"| {label} | {status} | {percentile(times, 50):.0f} | {percentile(times, 95):.0f} | {max(times):.0f} "
            f"| {queries} |"
        )
        figures.append(figure(label, times, "ms", higher_is_better=False, note=f"{queries} queries, status {status}"))
    write("patient_list.md", "\n".join(lines) + "\n")
    record(
        "patient_list",
        figures,
        notes=f"{N_PATIENTS:,} patients over 3 sites (the clinician sees {N_PATIENTS // 3:,}), "
        f"{int(gen['n_labs']):,} lab results, generated in {gen['total']:.0f} s; server time through "
        f"Django's test client, {REPEAT} requests after one warm-up. No target (reference figures).",
    )


if __name__ == "__main__":
    main()
