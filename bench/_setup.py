"""Django set-up shared by the benchmark scripts: the bench database, migrated."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-secret")
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench")
    # Requests go through Django's test client (host "testserver") and render templates
    # without a collectstatic manifest.
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
    os.environ.setdefault("DJANGO_STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage")
    os.environ.setdefault("DJANGO_SSL_REDIRECT", "0")  # the test client speaks plain HTTP
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgres"):
        import psycopg

        name = url.rsplit("/", 1)[1]
        admin = url.rsplit("/", 1)[0].replace("postgres://", "postgresql://") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def machine() -> str:
    import datetime as dt

    cpus = os.cpu_count()
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
            mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT version()" if connection.vendor == "postgresql" else "SELECT sqlite_version()")
        db = cur.fetchone()[0].split(",")[0]
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {platform.node()}; {cpus} cores{mem}; "
        f"Python {platform.python_version()}; {db}"
    )


def write(name: str, text: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(text)
    print(text)
    return path


# --- Figures for bench/RESULTS.md ---------------------------------------------------------
# Every script records its figures with `figure()` and `record()`: repeated samples, their
# median and p95, the target, and the reference measured in the same run. `bench/run.py`
# gathers the JSON files into bench/RESULTS.md.


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (p50 of [1, 2, 3, 4] is 2, p95 of 20 samples is the 19th)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return float(ordered[int(rank) - 1])


def figure(
    name: str,
    samples: list[float],
    unit: str,
    *,
    target: float | None = None,
    higher_is_better: bool = True,
    target_on: str = "median",
    reference: list[float] | None = None,
    reference_name: str = "",
    ratio_target: float | None = None,
    note: str = "",
) -> dict:
    """One measured figure. ``target`` applies to the median (or ``target_on="p95"``);
    ``reference`` are samples of the same quantity measured in the same run, and the ratio
    is median / reference median (``ratio_target`` is a minimum)."""
    median, p95 = percentile(samples, 50), percentile(samples, 95)
    out: dict = {
        "name": name, "unit": unit, "runs": len(samples), "samples": [round(s, 6) for s in samples],
        "median": median, "p95": p95, "higher_is_better": higher_is_better, "note": note,
    }  # fmt: skip
    met = []
    if target is not None:
        value = p95 if target_on == "p95" else median
        out["target"] = f"{target_on} {'>=' if higher_is_better else '<'} {target:g}"
        met.append(value >= target if higher_is_better else value < target)
    if reference:
        ref = percentile(reference, 50)
        out["reference"] = {"name": reference_name, "median": ref, "p95": percentile(reference, 95),
                            "runs": len(reference)}  # fmt: skip
        out["ratio"] = median / ref if ref else None
        if ratio_target is not None:
            out["ratio_target"] = ratio_target
            ok = out["ratio"] is not None and (
                out["ratio"] >= ratio_target if higher_is_better else out["ratio"] <= ratio_target
            )
            met.append(ok)
    out["met"] = all(met) if met else None
    return out


def record(script: str, figures: list[dict], *, notes: str = "") -> Path:
    """Write bench/results/<script>.json (read by bench/run.py into RESULTS.md)."""
    import json

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{script}.json"
    payload = {"script": script, "machine": machine(), "figures": figures, "notes": notes}
    path.write_text(json.dumps(payload, indent=1) + "\n")
    for fig in figures:
        flag = {True: "met", False: "MISSED", None: ""}[fig["met"]]
        ratio = f" ratio {fig['ratio']:.2f}" if fig.get("ratio") is not None else ""
        print(f"  {fig['name']}: median {fig['median']:.4g} p95 {fig['p95']:.4g} {fig['unit']}{ratio} {flag}")
    return path


def stop_group(proc) -> None:
    """Stop a server or worker started with ``start_new_session=True`` and its children:
    SIGTERM to the group, SIGKILL if it has not exited after 30 s."""
    import signal
    import subprocess

    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
