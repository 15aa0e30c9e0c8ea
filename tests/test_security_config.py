"""Production configuration (SECURITY.md items 13, 14 and 15), read in fresh interpreters
with a production environment: Django's deployment checks pass with nothing silenced,
DEBUG and the browsable API are off, HTTPS is enforced, and Celery speaks JSON only with
tasks that take ids and plain values."""

from __future__ import annotations

import inspect
import os
import secrets
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from django.conf import settings
from kombu.exceptions import ContentDisallowed
from kombu.serialization import dumps, loads, prepare_accept_content

from registry.celery import app
from tests.factories import make_lab
from tests.test_security_auth import production_settings

ROOT = Path(__file__).resolve().parent.parent


def deploy_env(**extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "registry.example.org",
        "DATABASE_URL": "postgres://registry:pw@db.example:5432/registry",
        "REDIS_URL": "redis://cache.example:6379/0",
        **extra,
    }


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- item 13 ----------------------------------------------------------------------------


def test_check_deploy_passes_with_production_settings_and_nothing_silenced():
    result = check_deploy(deploy_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert not getattr(settings, "SILENCED_SYSTEM_CHECKS", [])


def test_check_deploy_catches_a_weakened_setting():
    """The check is live: turning HTTPS off in production is reported (so the pass above means something)."""
    result = check_deploy(deploy_env(DJANGO_SSL_REDIRECT="0", DJANGO_HSTS_SECONDS="0"))
    assert result.returncode != 0
    assert "security.W008" in result.stderr + result.stdout and "security.W004" in result.stderr + result.stdout


# --- item 14 ----------------------------------------------------------------------------


def test_production_debug_off_browsable_api_off_https_enforced():
    s = production_settings()
    assert s["DEBUG"] is False
    assert s["REST_FRAMEWORK"]["DEFAULT_RENDERER_CLASSES"] == ["rest_framework.renderers.JSONRenderer"]
    assert s["SECURE_SSL_REDIRECT"] is True and s["SECURE_REDIRECT_EXEMPT"] == [r"^healthz$", r"^readyz$"]
    assert s["SECURE_HSTS_SECONDS"] >= 31536000 and s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert s["SECURE_CONTENT_TYPE_NOSNIFF"] is True


def test_plain_http_loopback_turns_only_the_redirect_off():
    s = production_settings(DJANGO_SSL_REDIRECT="0")
    assert s["SECURE_SSL_REDIRECT"] is False and s["SESSION_COOKIE_SECURE"] is True


def test_debug_keeps_the_redirect_off_and_the_browsable_api_on():
    s = production_settings(DJANGO_DEBUG="1")
    assert s["SECURE_SSL_REDIRECT"] is False
    assert "rest_framework.renderers.BrowsableAPIRenderer" in s["REST_FRAMEWORK"]["DEFAULT_RENDERER_CLASSES"]


@pytest.mark.django_db
def test_http_is_redirected_to_https_except_the_health_check(client, settings):
    settings.SECURE_SSL_REDIRECT = True  # as in production (the suite runs with DJANGO_SSL_REDIRECT=0)
    response = client.get("/patients/", HTTP_HOST="localhost")
    assert response.status_code == 301 and response["Location"] == "https://localhost/patients/"
    assert client.get("/healthz", HTTP_HOST="localhost").status_code == 200
    assert client.get("/patients/", HTTP_HOST="localhost", secure=True).status_code == 302  # to the login page


# --- item 15 ----------------------------------------------------------------------------


def test_celery_accepts_json_only():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json" and app.conf.result_serializer == "json"
    accept = prepare_accept_content(app.conf.accept_content)
    assert accept == {"application/json"}
    _ctype, _enc, body = dumps({"x": 1}, serializer="pickle")
    with pytest.raises(ContentDisallowed):
        loads(body, "application/x-python-serialize", "binary", accept=accept)
    ctype, enc, body = dumps([[1], {}, {}], serializer="json")
    assert loads(body, ctype, enc, accept=accept) == [[1], {}, {}]


PLAIN = {int, str, bool, float, list[int], type(None)}


def test_every_project_task_takes_ids_and_plain_values():
    ours = {name: task for name, task in app.tasks.items() if name.startswith(("clinical.", "registry."))}
    assert "clinical.tasks.evaluate_patient" in ours and len(ours) >= 5
    for name, task in ours.items():
        hints = typing.get_type_hints(task.run)
        hints.pop("return", None)
        params = [p for p in inspect.signature(task.run).parameters.values() if p.name not in {"self"}]
        assert params == [] or hints, f"{name}: annotate the arguments"
        for param in params:
            assert param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY), (name, param)
            assert hints[param.name] in PLAIN, f"{name}({param.name}: {hints[param.name]}) is not an id or plain value"


@pytest.mark.django_db
def test_services_publish_the_patient_id_only(patient_a, clinician_a, monkeypatch, django_capture_on_commit_callbacks):
    from clinical import tasks

    sent = []
    monkeypatch.setattr(tasks.evaluate_patient, "delay", lambda *a, **kw: sent.append((a, kw)))
    with django_capture_on_commit_callbacks(execute=True):
        make_lab(patient=patient_a, value="3", unit="mmol/L", by=clinician_a)
    assert sent == [((patient_a.pk,), {})]
    assert type(sent[0][0][0]) is int
