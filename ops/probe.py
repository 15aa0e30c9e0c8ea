"""Container health probes that restart what they find hung.

Docker's restart policy acts when a container's main process exits, never when a health
check fails. Each app container therefore runs under an init (``init: true``), and its
probe, after ``--kill-after`` consecutive failures, kills the service's main process by
the pid in its pidfile: the container exits and ``restart: unless-stopped`` starts a fresh
one. The failure count lives in a file next to the pidfile.

    python -m ops.probe web --url http://127.0.0.1:8000/healthz --pidfile /tmp/gunicorn.pid
    python -m ops.probe worker --pidfile /tmp/celery-worker.pid
    python -m ops.probe beat --schedule /tmp/celerybeat-schedule --pidfile /tmp/celery-beat.pid

Exit status 0 = healthy, 1 = unhealthy (Docker's convention).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path


def probe_web(url: str, timeout: float) -> str | None:
    request = urllib.request.Request(url, headers={"Host": "localhost"})  # noqa: S310 - fixed local URL
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return None if response.status == 200 else f"status {response.status}"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def probe_worker(timeout: float) -> str | None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
    from registry.celery import app

    node = f"celery@{socket.gethostname()}"
    try:
        replies = app.control.ping(destination=[node], timeout=timeout)
    except Exception as exc:  # broker down: the worker cannot work either
        return f"ping failed: {type(exc).__name__}"
    return None if replies else f"{node} did not answer a ping within {timeout:.0f} s"


def probe_beat(schedule: Path, max_age: float) -> str | None:
    # beat rewrites its schedule file every few minutes while it runs
    try:
        age = time.time() - schedule.stat().st_mtime
    except OSError as exc:
        return f"no schedule file: {exc}"
    return None if age <= max_age else f"schedule file not written for {age:.0f} s"


def record(pidfile: Path, failure: str | None, kill_after: int) -> int:
    counter = pidfile.with_suffix(".failures")
    if failure is None:
        with contextlib.suppress(OSError):
            counter.unlink()
        return 0
    try:
        failures = int(counter.read_text()) + 1
    except (OSError, ValueError):
        failures = 1
    counter.write_text(str(failures))
    print(f"unhealthy ({failures}/{kill_after}): {failure}", file=sys.stderr)
    if failures >= kill_after:
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            print(f"killing pid {pid} so the container restarts", file=sys.stderr)
            counter.unlink()
            os.kill(pid, signal.SIGKILL)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("service", choices=["web", "worker", "beat"])
    parser.add_argument("--pidfile", type=Path, required=True)
    parser.add_argument("--kill-after", type=int, default=3, help="consecutive failures before the kill")
    parser.add_argument("--url", default="http://127.0.0.1:8000/healthz")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--schedule", type=Path, default=Path("/tmp/celerybeat-schedule"))  # noqa: S108
    parser.add_argument("--max-age", type=float, default=600.0)
    args = parser.parse_args(argv)
    if args.service == "web":
        failure = probe_web(args.url, args.timeout)
    elif args.service == "worker":
        failure = probe_worker(args.timeout)
    else:
        failure = probe_beat(args.schedule, args.max_age)
    return record(args.pidfile, failure, args.kill_after)


if __name__ == "__main__":
    sys.exit(main())
