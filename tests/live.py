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
def gunicorn(*, workers: int = 1, env: dict[str, str] | None = None) -> Iterator[Server]:
    """Serve the app on a free loopback port until the block ends; the server's stderr is
    on the yielded object afterwards (a Traceback there means a server error)."""
    port = free_port()
    full_env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "DJANGO_DEBUG": "0",
        "DJANGO_SSL_REDIRECT": "0",  # plain HTTP on loopback
        "DJANGO_SECRET_KEY": "live-test-only",
        "DJANGO_STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "REDIS_URL": "",
        **(env or {}),
    }
    # stderr goes to a file, not a pipe: nobody reads a pipe while the server runs, and
    # once its buffer is full (every 4xx logs a warning line) the workers block on write.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "registry.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
             "--no-control-socket", "--timeout", "60", "--log-level", "warning"],
            cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=log,
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
            log.seek(0)
            server.stderr = log.read()
