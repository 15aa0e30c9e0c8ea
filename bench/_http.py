"""HTTP pieces shared by the benchmarks that measure the API over loopback: a gunicorn
started with the production settings, wrk for saturation, and a paced client for a
steady request rate."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _setup import ROOT, stop_group

WRK = "/usr/bin/wrk"


class Gunicorn:
    """``gunicorn registry.wsgi`` as production runs it (gunicorn.conf.py, DEBUG off, sync
    workers, access log), on 127.0.0.1:``port``; ``settings`` picks the settings module."""

    def __init__(self, port: int, *, workers: int = 4, settings: str = "registry.settings", env: dict | None = None):
        self.port = port
        self.log_path = Path(tempfile.gettempdir()) / f"bench-gunicorn-{port}.log"
        self.access_path = Path(tempfile.gettempdir()) / f"bench-gunicorn-{port}-access.log"
        self.cmd = [
            sys.executable, "-m", "gunicorn", "registry.wsgi:application", "-c", "gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync",
            "--no-control-socket", "--access-logfile", str(self.access_path),
        ]  # fmt: skip
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings,
            "DJANGO_DEBUG": "0",
            "DJANGO_SSL_REDIRECT": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        # Another server on the port would answer the readiness probe and every request
        # after it (with its own database): refuse to measure it.
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise RuntimeError(f"127.0.0.1:{self.port} is already in use; set another port (BENCH_*_PORT)")
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.cmd, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            try:
                if get(self.port, "/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer in 60 s; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            stop_group(self.proc)
        self.log.close()


def forget_throttling() -> None:
    """Delete the API throttle's windows from the cache's Redis (REDIS_URL): a benchmark
    raises the rate and fills them; the next run, or a test suite sharing the Redis
    database, must not start throttled."""
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    for key in client.scan_iter(match="*throttle_*"):
        client.delete(key)


# --- server CPU: gunicorn's processes and their PostgreSQL backends ---------------------

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def server_cpu(server: Gunicorn) -> dict[int, tuple[int, float]]:
    """CPU seconds used so far by each process serving requests: pid -> (0 for gunicorn's
    master and workers, 1 for the PostgreSQL backends connected to the bench database
    other than this process's own; their CPU). Read afresh each time: a worker reconnects
    when its connection reaches its maximum age, and the new backend counts too."""
    out: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[2]) == server.proc.pid:
                        out[int(entry)] = (0, _cpu_of(int(entry)))
            except (OSError, IndexError, ValueError):
                pass
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        for (pid,) in cur.fetchall():
            out[pid] = (1, _cpu_of(pid))
    return out


def cpu_used(before: dict[int, tuple[int, float]], after: dict[int, tuple[int, float]]) -> tuple[float, float]:
    """CPU seconds (gunicorn, PostgreSQL) between two :func:`server_cpu` readings; a
    process that appeared in between counts from zero, one that ended is left out (its
    last reading is lost with it)."""
    used = [0.0, 0.0]
    for pid, (group, cpu) in after.items():
        used[group] += cpu - before.get(pid, (group, 0.0))[1]
    return used[0], used[1]


def get(port: int, path: str, headers: dict | None = None, *, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def request_json(port: int, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else {})
    finally:
        conn.close()


# --- saturation: wrk ------------------------------------------------------------------


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    errors: int  # socket errors, timeouts and non-2xx/3xx answers
    requests: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}[unit]


def wrk(port: int, path: str, *, headers: dict | None = None, threads: int = 2, connections: int = 32,
        seconds: int = 10) -> WrkResult:  # fmt: skip
    cmd = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run(cmd + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    try:
        return _parse_wrk(out)
    except (AttributeError, KeyError) as exc:
        raise RuntimeError(f"unexpected wrk output:\n{out}") from exc


def _parse_wrk(out: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)$", out, re.MULTILINE).group(1))  # the latency distribution's line
    errors = 0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket:
        errors += sum(int(x) for x in socket.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    return WrkResult(rps, p50, errors, requests)


# --- steady rate: a paced client ------------------------------------------------------


@dataclass
class PacedResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    sent: int = 0
    late_starts: int = 0  # requests that left more than 10 ms after their slot


def paced(port: int, path: str, *, rate: float, seconds: float, headers: dict | None = None,
          clients: int = 16, expect: int = 200) -> PacedResult:  # fmt: skip
    """Requests on a fixed schedule (one every 1/rate s) from ``clients`` threads, each with
    its own keep-alive connection (reopened when the server closes it). The latency of a
    request runs from its scheduled time, so a client or server falling behind shows up in
    the figures rather than silently lowering the rate."""
    total = int(rate * seconds)
    result = PacedResult()
    lock = threading.Lock()
    next_slot = [0]
    start = time.perf_counter() + 0.2

    def worker() -> None:
        conn = None
        while True:
            with lock:
                slot = next_slot[0]
                next_slot[0] += 1
            if slot >= total:
                break
            due = start + slot / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            late = time.perf_counter() - due > 0.010
            ok = False
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", path, headers=headers or {})
                response = conn.getresponse()
                response.read()
                ok = response.status == expect
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            elapsed = (time.perf_counter() - due) * 1000
            with lock:
                result.sent += 1
                result.late_starts += late
                if ok:
                    result.latencies_ms.append(elapsed)
                else:
                    result.errors += 1
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result
