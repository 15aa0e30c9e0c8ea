"""seed_demo creates logins with a published password: it refuses to run unless
DJANGO_DEBUG=1 or --i-know-this-is-not-production."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from registry.models import User

pytestmark = pytest.mark.django_db


def test_seed_demo_refuses_outside_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="i-know-this-is-not-production"):
        call_command("seed_demo", patients=2, stdout=StringIO())
    assert not User.objects.exists()


def test_seed_demo_runs_in_debug_or_with_the_flag(settings):
    settings.DEBUG = True
    call_command("seed_demo", patients=2, stdout=StringIO())
    assert User.objects.filter(username="admin", is_superuser=True).exists()
    settings.DEBUG = False
    call_command("seed_demo", "--i-know-this-is-not-production", patients=2, stdout=StringIO())
