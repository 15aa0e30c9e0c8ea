#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis the tests use are up; start them if they are down
# (the machine's own services, see DESIGN.md). A service that cannot be reached fails
# the run: tests that need it are never skipped.
set -euo pipefail

pg_up() { python3 - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 5432)); print("ok")
except OSError:
    sys.exit(1)
PY
}
redis_up() { python3 - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 6379)); s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}

if ! pg_up >/dev/null 2>&1; then
  echo "PostgreSQL is down on 127.0.0.1:5432; starting it" >&2
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up >/dev/null 2>&1 && break; sleep 1; done
fi
if ! redis_up >/dev/null 2>&1; then
  echo "Redis is down on 127.0.0.1:6379; starting it" >&2
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  for _ in $(seq 1 30); do redis_up >/dev/null 2>&1 && break; sleep 1; done
fi

ok=1
pg_up >/dev/null 2>&1 || { echo "ERROR: PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started." >&2; ok=0; }
redis_up >/dev/null 2>&1 || { echo "ERROR: Redis is not reachable on 127.0.0.1:6379 and could not be started." >&2; ok=0; }
[ "$ok" = 1 ] || exit 1
echo "services: PostgreSQL and Redis are up"
