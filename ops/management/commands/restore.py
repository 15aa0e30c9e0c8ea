from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ops import backups


class Command(BaseCommand):
    help = (
        "Restore a backup (default: the newest in BACKUP_DIR) into the database of DATABASE_URL with pg_restore, "
        "in one transaction. The database must be empty unless --clean is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, default=None, help="The .dump file (default: the newest)")
        parser.add_argument("--dir", type=Path, default=None, help="Backup directory (default: BACKUP_DIR)")
        parser.add_argument("--clean", action="store_true", help="Drop existing objects first (overwrites data)")

    def handle(self, *args, **opts):
        try:
            dump = opts["file"] or backups.latest_backup(opts["dir"] or settings.BACKUP_DIR)
            target = backups.Target.from_settings()
            seconds = backups.restore(dump, target, clean=opts["clean"])
        except backups.BackupError as exc:
            raise CommandError(str(exc))
        self.stdout.write(f"restored {dump.name} into {target.name} in {seconds:.1f} s")
