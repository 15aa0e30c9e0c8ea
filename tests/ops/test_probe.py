"""ops.probe, the compose health check: healthy answers reset the count, repeated
failures kill the service's main process (so the container restarts)."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.ops.faults import dead_port

ROOT = Path(__file__).resolve().parents[2]


def probe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ops.probe", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def _victim(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen(["sleep", "120"])
    pidfile = tmp_path / "service.pid"
    pidfile.write_text(str(proc.pid))
    return proc, pidfile


def test_web_probe_kills_after_three_consecutive_failures(tmp_path):
    proc, pidfile = _victim(tmp_path)
    url = f"http://127.0.0.1:{dead_port()}/healthz"
    try:
        for attempt in (1, 2):
            result = probe("web", "--url", url, "--pidfile", str(pidfile), "--kill-after", "3", "--timeout", "1")
            print(f"attempt {attempt}: exit {result.returncode}, {result.stderr.strip()}")
            assert result.returncode == 1 and proc.poll() is None
        result = probe("web", "--url", url, "--pidfile", str(pidfile), "--kill-after", "3", "--timeout", "1")
        print(f"attempt 3: exit {result.returncode}, {result.stderr.strip()}")
        assert result.returncode == 1
        assert proc.wait(10) == -9, "the hung service was not killed"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_healthy_answer_resets_the_failure_count(tmp_path):
    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proc, pidfile = _victim(tmp_path)
    good = f"http://127.0.0.1:{server.server_port}/healthz"
    bad = f"http://127.0.0.1:{dead_port()}/healthz"
    try:
        for url in (bad, bad, good, bad, bad):
            probe("web", "--url", url, "--pidfile", str(pidfile), "--kill-after", "3", "--timeout", "1")
        assert proc.poll() is None, "killed although the failures were not consecutive"
        assert probe("web", "--url", good, "--pidfile", str(pidfile)).returncode == 0
    finally:
        proc.kill()
        server.shutdown()


def test_beat_probe_fails_on_a_stale_schedule_file(tmp_path):
    schedule = tmp_path / "celerybeat-schedule"
    schedule.write_text("x")
    pidfile = tmp_path / "beat.pid"
    assert probe("beat", "--schedule", str(schedule), "--max-age", "600", "--pidfile", str(pidfile)).returncode == 0
    old = time.time() - 3600
    os.utime(schedule, (old, old))
    result = probe("beat", "--schedule", str(schedule), "--max-age", "600", "--pidfile", str(pidfile))
    assert result.returncode == 1 and "not written for" in result.stderr
