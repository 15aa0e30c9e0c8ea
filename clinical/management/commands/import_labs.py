"""Import lab results from a CSV file: the same checks and the same all-or-nothing
import as the web page and the API.

    manage.py import_labs FILE --user USERNAME [--dry-run]

Exit status 0 when imported (or, with --dry-run, when every row is valid), 1 otherwise.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from clinical import imports
from clinical.services import lab_import
from registry.models import User
from registry.writekit import UploadTooLarge


class Command(BaseCommand):
    help = "Import lab results from a CSV file (all rows or none)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--user", required=True, help="Whose sites and name the import runs under")
        parser.add_argument("--dry-run", action="store_true", help="Check every row, import nothing")
        parser.add_argument("--max-errors", type=int, default=50, help="Row errors to print")
        parser.add_argument(
            "--skip-existing", action="store_true", help="Skip rows identical to stored results instead of refusing"
        )
        parser.add_argument(
            "--confirm-unusual",
            action="store_true",
            help="Import rows whose value looks typed against the wrong unit, as they are in the file",
        )

    def handle(self, *args, **opts):
        user = User.objects.filter(username=opts["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {opts['user']!r}.")
        path = Path(opts["file"])
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        started = time.perf_counter()
        try:
            record, plan = lab_import.lab_import_upload(user=user, filename=path.name, content=content)
        except UploadTooLarge as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        if opts["skip_existing"]:
            plan = imports.lab_import_plan(record, user=user, skip_existing=True)
        for warning in plan.warnings:
            self.stderr.write(f"warning: {warning}")
        for error in plan.file_errors:
            self.stderr.write(f"error: {error}")
        shown = 0
        for row in plan.rows:
            if row.errors and shown < opts["max_errors"]:
                self.stderr.write(f"line {row.line}: {'; '.join(row.errors)}")
                shown += 1
            elif row.unit_suspect and not row.skipped and shown < opts["max_errors"]:
                self.stderr.write(f"line {row.line}: check the unit: {row.unit_suspect}")
                shown += 1
        self.stdout.write(
            f"{plan.row_count} rows, {plan.error_count} with errors, {plan.skipped_count} skipped "
            f"(encoding {plan.encoding}, delimiter {plan.delimiter!r}), checked in {time.perf_counter() - started:.1f} s"
        )
        if not plan.ok:
            lab_import.lab_import_discard(lab_import=record)
            self.stderr.write("Nothing imported.")
            sys.exit(1)
        if opts["dry_run"]:
            lab_import.lab_import_discard(lab_import=record)
            self.stdout.write("Dry run: every row is valid; nothing imported.")
            return
        started = time.perf_counter()
        try:
            record, _ = lab_import.lab_import_confirm(
                lab_import=record,
                by=user,
                skip_existing=opts["skip_existing"],
                confirm_unusual=opts["confirm_unusual"],
            )
        except ValidationError as exc:
            self.stderr.write(" ".join(exc.messages))
            sys.exit(1)
        self.stdout.write(f"Imported {record.imported_count} lab results in {time.perf_counter() - started:.1f} s.")
