"""Write a de-identified research export into a directory and print the paths written.

CSV and Parquet: one zip bundle (tables, data_dictionary.csv, manifest.json). FHIR: one
NDJSON file per resource type plus manifest.json. Phenopackets: phenopackets/<pseudonym>.json
per patient plus manifest.json. Run at the server's shell, the export covers every site
unless ``--site`` narrows it; ``--user`` exports with that user's scope instead.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from registry.exports import smallcell
from registry.exports.build import FORMATS, ExportUnavailable
from registry.exports.cohort import ExportOptions
from registry.exports.services import export_to_directory
from registry.exports.tables import DATE_MODES
from registry.models import User


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD).") from exc


class Command(BaseCommand):
    help = "Export de-identified research data (csv, parquet, fhir, phenopackets) into a directory."

    def add_arguments(self, parser):
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--out", required=True, help="Directory to write into (created if missing).")
        parser.add_argument("--project", default="default", help="Project name: selects the pseudonym key.")
        parser.add_argument("--site", nargs="+", action="extend", default=[], help="Site code(s).")
        parser.add_argument("--subtype", nargs="+", action="extend", default=[], help="Subtype code(s), e.g. FPLD2.")
        parser.add_argument("--from", dest="date_from", type=_date, help="First record date (YYYY-MM-DD).")
        parser.add_argument("--to", dest="date_to", type=_date, help="Last record date (YYYY-MM-DD).")
        parser.add_argument(
            "--dates", choices=DATE_MODES, default="shifted", help="Shifted dates or days since diagnosis."
        )
        parser.add_argument("--k", type=int, default=smallcell.DEFAULT_K, help="Smallest group size kept (default 5).")
        parser.add_argument("--user", help="Export with this user's scope instead of every site.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args, **o):
        user = None
        if o["user"]:
            user = User.objects.filter(username=o["user"], is_active=True).first()
            if user is None:
                raise CommandError(f"No active user {o['user']!r}.")
        options = ExportOptions(
            format=o["format"],
            project=o["project"],
            sites=tuple(o["site"]),
            subtypes=tuple(o["subtype"]),
            date_from=o["date_from"],
            date_to=o["date_to"],
            dates=o["dates"],
            k=o["k"],
        )
        bar = None if o["no_progress"] else tqdm(total=1, unit="row", file=self.stderr, dynamic_ncols=True)

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.total = total
                bar.n = done
                bar.refresh()

        try:
            paths = export_to_directory(user=user, options=options, out_dir=Path(o["out"]), progress=progress)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        except ExportUnavailable as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
        for path in paths:
            self.stdout.write(str(path))
