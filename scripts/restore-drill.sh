#!/usr/bin/env bash
# Restore drill: take a backup of $DATABASE_URL (unless --no-backup), restore the newest
# backup into a fresh, uniquely named database on the same server, run `migrate --check`,
# compare per-table row counts with the backup's manifest, verify the audit chain when
# `verify_audit` exists, drop the drill database. Exit status 0 only if every check passed.
#
#   DATABASE_URL=postgres://... BACKUP_DIR=/var/backups/registry scripts/restore-drill.sh
#   scripts/restore-drill.sh --no-backup            # drill the newest existing backup only
#
# Bounded in time: DRILL_TIMEOUT seconds (default 900).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
ARGS=(--backup-first)
for arg in "$@"; do
  case "$arg" in
    --no-backup) ARGS=() ;;
    *) ARGS+=("$arg") ;;
  esac
done
echo "restore drill of ${DATABASE_URL##*@} at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
exec timeout --kill-after=30 "${DRILL_TIMEOUT:-900}" "$PY" manage.py restore_drill "${ARGS[@]}"
