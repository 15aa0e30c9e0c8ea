from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ops import backups


class Command(BaseCommand):
    help = (
        "Restore the newest backup into a fresh database on the same server, run migrate --check, compare "
        "per-table row counts with the backup's manifest, verify the audit chain (when verify_audit exists), "
        "then drop the drill database. Exits non-zero when any check fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, default=None, help="The .dump file (default: the newest)")
        parser.add_argument("--dir", type=Path, default=None, help="Backup directory (default: BACKUP_DIR)")
        parser.add_argument("--backup-first", action="store_true", help="Take a backup of DATABASE_URL first")
        parser.add_argument("--keep-database", action="store_true", help="Leave the drill database for inspection")

    def handle(self, *args, **opts):
        started = time.monotonic()
        directory = opts["dir"] or settings.BACKUP_DIR
        try:
            source = backups.Target.from_settings()
            if opts["backup_first"]:
                dump, manifest = backups.backup(source, directory)
                self.stdout.write(f"[ok] backup {dump.name} ({manifest['bytes']:,} bytes, {manifest['seconds']} s)")
            dump = opts["file"] or backups.latest_backup(directory)
            report = backups.drill(source, dump, keep_database=opts["keep_database"], say=self.stdout.write)
        except backups.BackupError as exc:
            raise CommandError(str(exc))
        total = time.monotonic() - started
        if not report.ok:
            failed = ", ".join(label for label, passed, _, _ in report.steps if not passed)
            raise CommandError(f"restore drill FAILED ({failed}) after {total:.1f} s")
        self.stdout.write(f"restore drill passed in {total:.1f} s")
