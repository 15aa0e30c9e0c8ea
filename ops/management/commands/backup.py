from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ops import backups


class Command(BaseCommand):
    help = "Dump the database with pg_dump -Fc into BACKUP_DIR, with a manifest of per-table row counts."

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=None, help="Backup directory (default: BACKUP_DIR)")
        parser.add_argument("--keep", type=int, default=0, help="Keep only the newest N backups (0: keep all)")

    def handle(self, *args, **opts):
        directory = opts["dir"] or settings.BACKUP_DIR
        try:
            dump, manifest = backups.backup(backups.Target.from_settings(), directory, keep=opts["keep"])
        except backups.BackupError as exc:
            raise CommandError(str(exc))
        rows = sum(manifest["tables"].values())
        self.stdout.write(
            f"{dump} ({manifest['bytes']:,} bytes, {len(manifest['tables'])} tables, {rows:,} rows, "
            f"{manifest['seconds']} s)"
        )
