"""Provision a user with a role at a site, idempotently (for deployment scripts).

    manage.py create_registry_user USERNAME --password-file F --site CODE --role ROLE

Running it again updates the password and role; it never creates a second user or
membership. The password is read from a file so it never appears in a process list.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from registry.models import Membership, Role, Site, User


class Command(BaseCommand):
    help = "Create or update a user and their role at a site (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password-file", required=True, help="File whose first line is the password")
        parser.add_argument("--site", required=True, help="Site code")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")

    def handle(self, *args, **opts):
        try:
            password = Path(opts["password_file"]).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read a password from {opts['password_file']}: {exc}") from exc
        site = Site.objects.filter(code=opts["site"]).first()
        if site is None:
            raise CommandError(f"No site with code {opts['site']!r}.")
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=opts["username"])
            for field in ("email", "first_name", "last_name"):
                if opts[field]:
                    setattr(user, field, opts[field])
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise CommandError("Password refused: " + " ".join(exc.messages)) from exc
            if created or not user.check_password(password):
                user.set_password(password)
            user.is_active = True
            user.save()
            membership, m_created = Membership.objects.get_or_create(
                user=user, site=site, defaults={"role": opts["role"]}
            )
            if not m_created and membership.role != opts["role"]:
                membership.role = opts["role"]
                membership.save(update_fields=["role"])
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} user {user.username}: {opts['role']} at {site.code}")
