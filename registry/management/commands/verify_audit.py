"""``manage.py verify_audit``: walk the audit trail's hash chain.

Prints the number of rows and the head hash (keep it elsewhere: it also proves that no
rows were removed from the end) and exits 0 when the chain is intact; names the first
broken row and exits 1 otherwise. Then checks the index of events about several
patients (a lab import) against the patients each such event lists.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from registry import audit_chain


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain (exit 0 intact, 1 broken)."

    def handle(self, *args, **options) -> None:
        verdict = audit_chain.verify()
        if not verdict.intact:
            self.stdout.write(f"Audit trail BROKEN: checked {verdict.rows} rows.")
            raise CommandError(
                f"Audit trail broken at row id {verdict.broken_id}: {verdict.problem}. "
                f"Every row from id {verdict.broken_id} on is unproven."
            )
        links = audit_chain.verify_patient_links()
        if not links.intact:
            self.stdout.write(
                f"Audit trail BROKEN: the chain is intact ({verdict.rows} rows), its patient index is not."
            )
            raise CommandError(
                f"Audit event {links.broken_id}: {links.problem}; that event may be missing from a patient's trail."
            )
        self.stdout.write(f"Audit trail intact: {verdict.rows} rows, head hash {verdict.head}.")
