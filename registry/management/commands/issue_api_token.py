"""Issue an API token for a user and print it (stdout: the key only, for scripts).

    manage.py issue_api_token USERNAME [--name "EHR interface"]

The key is shown once; only its hash is stored. Revoke it from /profile/tokens/ or the admin.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from registry.models import User
from registry.tokens import token_issue


class Command(BaseCommand):
    help = "Create a new API token for USERNAME and print the key."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="API token (command line)")

    def handle(self, *args, **opts):
        user = User.objects.filter(username=opts["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {opts['username']!r}.")
        token, key = token_issue(user=user, name=opts["name"])
        self.stderr.write(f"Token {token.name!r} for {user.username} (starts {token.prefix}); shown only once:")
        self.stdout.write(key)
