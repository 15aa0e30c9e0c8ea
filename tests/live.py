"""A real gunicorn serving the test database on loopback, for tests that need the app
as a separate process (schemathesis, connection-loss tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test database on the
    server of DATABASE_URL: the machine's or the embedded one `make test` started)."""
    db = connection.settings_dict
    auth = quote(db["USER"], safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    host = quote(db["HOST"] or "127.0.0.1", safe="")  # a socket directory is percent-encoded
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class Server:
    url: str
    stderr: bytes = b""


@contextmanager
def gunicorn(
    *, workers: int = 1, env: dict[str, str] | None = None, log_path: Path | None = None, log_level: str = "warning"
) -> Iterator[Server]:
    """Serve the app on a free loopback port until the block ends; the server's stderr is
    on the yielded object afterwards (a Traceback there means a server error). With
    ``log_path``, stdout (the access log) and stderr both go to that file instead."""
    port = free_port()
    # a file, never an unread pipe: a chatty server would block once a pipe's buffer is full
    log_file = log_path.open("a+b") if log_path is not None else tempfile.TemporaryFile()  # noqa: SIM115
    full_env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "DJANGO_DEBUG": "0",
        "DJANGO_SSL_REDIRECT": "0",  # plain HTTP on loopback
        "DJANGO_SECRET_KEY": "live-test-only",
        "DJANGO_STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "REDIS_URL": "",
        "REQUIRE_2FA": "0",  # as in every test not marked two_factor (tests/conftest.py)
        **(env or {}),
    }
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "registry.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--no-control-socket", "--timeout", "60", "--log-level", log_level],
        cwd=ROOT, env=full_env,
        stdout=log_file if log_path is not None else subprocess.DEVNULL, stderr=log_file,
    )  # fmt: skip
    server = Server(url=f"http://127.0.0.1:{port}")
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{server.url}/healthz", timeout=1)  # noqa: S310 - loopback
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.seek(0)
        server.stderr = log_file.read()
        log_file.close()
