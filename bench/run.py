"""`make bench`: run every benchmark script in bench/ and write bench/RESULTS.md.

Each script is standalone (``python bench/<name>.py``), writes its own markdown report in
bench/results/ and records its figures (median and p95 of repeated runs, target, the
reference measured in the same run) in bench/results/<name>.json. This runner runs them
in ORDER, then gathers the JSON files into bench/RESULTS.md with the machine, the date and
the versions. ``python bench/run.py recompute api`` runs a subset (RESULTS.md then keeps
the other scripts' last figures, each with its own date).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# Modules the scripts share (not benchmarks themselves).
SKIP = {"run.py", "synthetic.py", "api_settings.py", "api_urls.py"}
# Cheap first; scripts that share a cohort run next to each other.
ORDER = ["lab_import", "api", "alert_latency", "recompute", "dashboards", "patient_list", "export"]
BUDGET_S = 30 * 60


def scripts() -> list[Path]:
    found = {p.stem: p for p in HERE.glob("*.py") if p.name not in SKIP and not p.name.startswith("_")}
    ordered = [found.pop(name) for name in ORDER if name in found]
    return ordered + sorted(found.values())


def versions() -> str:
    parts = [f"Python {sys.version.split()[0]}"]
    for dist in ("Django", "djangorestframework", "celery", "redis", "psycopg", "gunicorn", "plotly", "pyarrow"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    for cmd, label in ((["psql", "--version"], None), (["redis-server", "--version"], None)):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.split()
            parts.append(" ".join(out[:3]) if label is None else label)
        except (OSError, subprocess.SubprocessError):
            pass
    return "; ".join(parts)


def host() -> str:
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            mem = f", {int(fh.readline().split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.node()}, {os.cpu_count()} cores{mem}, {platform.machine()}, {platform.platform(terse=True)}"


def fmt(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def results_md(elapsed: dict[str, float], total: float | None) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/run.py) from the figures each script records in",
        "bench/results/<script>.json; each script's own report (method, data, notes) is",
        "bench/results/<script>.md. Median and p95 are over the repeated runs shown; the",
        "reference is measured in the same run on the same machine, and the ratio is",
        "median / reference median.",
        "",
        f"Machine: {host()}; written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Versions: {versions()}",
        "",
    ]
    if total is not None:
        lines += [f"`make bench` took {total / 60:.1f} min (budget {BUDGET_S // 60} min).", ""]
    summary = ["| script | figure | runs | median | p95 | unit | target | reference (median) | ratio | met |",
               "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    sections = []
    for script in scripts():
        path = RESULTS / f"{script.stem}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        took = f" (this run: {elapsed[script.stem]:.0f} s)" if script.stem in elapsed else ""
        sections += [f"## {script.stem}", "", f"Machine: {data['machine']}{took}", ""]
        if data.get("notes"):
            sections += [data["notes"].strip(), ""]
        for fig in data["figures"]:
            ref = fig.get("reference") or {}
            ratio = fig.get("ratio")
            target = fig.get("target", "")
            if fig.get("ratio_target") is not None:
                target = (target + "; " if target else "") + f"ratio >= {fig['ratio_target']:g}"
            met = {True: "yes", False: "**no**", None: ""}[fig.get("met")]
            summary.append(
                f"| {script.stem} | {fig['name']} | {fig['runs']} | {fmt(fig['median'])} | {fmt(fig['p95'])} "
                f"| {fig['unit']} | {target} | {(ref.get('name', '') + ' ' + fmt(ref.get('median'))).strip()} "
                f"| {'' if ratio is None else f'{ratio:.2f}'} | {met} |"
            )
            if fig.get("note"):
                sections.append(f"- {fig['name']}: {fig['note']}")
        sections.append("")
    return "\n".join(lines + summary + [""] + sections)


def main() -> int:
    only = set(sys.argv[1:])
    failed, elapsed = [], {}
    started = time.perf_counter()
    for script in scripts():
        if only and script.stem not in only:
            continue
        print(f"== {script.name}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)], env=os.environ.copy())
        elapsed[script.stem] = time.perf_counter() - t0
        print(f"== {script.name}: exit {rc} in {elapsed[script.stem]:.0f} s", flush=True)
        if rc:
            failed.append(script.name)
    total = time.perf_counter() - started
    (HERE / "RESULTS.md").write_text(results_md(elapsed, None if only else total))
    print(f"wrote {HERE / 'RESULTS.md'} ({total:.0f} s)")
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
