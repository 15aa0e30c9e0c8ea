"""Shared fixtures: personas of two sites, fast hashing, eager tasks by default."""

from __future__ import annotations

import pytest

from tests import audit_flush
from tests.factories import make_patient, make_site, make_user

audit_flush.install()


def pytest_configure(config):
    config.addinivalue_line("markers", "two_factor: runs with REQUIRE_2FA on (off for every other test)")


@pytest.fixture(autouse=True)
def _two_factor_setting(request, settings):
    """Tests run with DJANGO_DEBUG=0, where REQUIRE_2FA defaults to on; the suite signs in
    with force_login, so 2FA is off except in the tests marked ``two_factor``, which
    exercise it."""
    settings.REQUIRE_2FA = bool(request.node.get_closest_marker("two_factor"))


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Pages render without a collectstatic manifest (tests run with DJANGO_DEBUG=0)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _eager_tasks(request):
    """Ordinary tests run tasks in-process; tests marked ``worker`` use a real worker."""
    from registry.celery import app

    if request.node.get_closest_marker("worker"):
        yield
        return
    old = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = old


@pytest.fixture
def site_a(db):
    return make_site("SITEA", "Hospital A", "FR")


@pytest.fixture
def site_b(db):
    return make_site("SITEB", "Hospital B", "DE")


@pytest.fixture
def clinician_a(site_a):
    return make_user("clin_a", site=site_a, role="clinician", first_name="Ada", last_name="Clinician")


@pytest.fixture
def clinician_b(site_b):
    return make_user("clin_b", site=site_b, role="clinician")


@pytest.fixture
def lead_a(site_a):
    return make_user("lead_a", site=site_a, role="site_lead")


@pytest.fixture
def researcher_a(site_a):
    return make_user("res_a", site=site_a, role="researcher")


@pytest.fixture
def registry_admin(site_a):
    return make_user("reg_admin", site=site_a, role="registry_admin")


@pytest.fixture
def patient_a(site_a, clinician_a):
    return make_patient(site=site_a, by=clinician_a)


@pytest.fixture
def patient_b(site_b, clinician_b):
    return make_patient(site=site_b, by=clinician_b)
