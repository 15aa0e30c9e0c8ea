"""docker-compose.yml and the Dockerfile agree with the settings module.

No Docker engine runs here: the file is parsed and checked for the production shape
(web, worker, beat, postgres, redis), their commands, health checks, start order, and that
every variable handed to the app is one ``registry/settings.py`` reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat", "migrate")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_variables() -> set[str]:
    """The environment variables registry/settings.py reads, found in its source."""
    text = (ROOT / "registry" / "settings.py").read_text()
    names = set(re.findall(r"env_(?:str|bool|int|list)\(\s*\"([A-Z][A-Z0-9_]*)\"", text))
    names |= set(re.findall(r"os\.environ(?:\.get)?[\(\[]\s*\"([A-Z][A-Z0-9_]*)\"", text))
    return names


def command_text(service: dict) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def test_settings_variables_are_found():
    # guards the regex above: if it found nothing, the subset check below would be empty
    assert {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS"} <= (
        settings_variables()
    )


def test_production_services_exist(compose):
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(compose["services"])


def test_commands(compose):
    s = compose["services"]
    assert command_text(s["web"]).startswith("gunicorn registry.wsgi:application")
    assert "--no-control-socket" in command_text(s["web"])
    assert command_text(s["worker"]).startswith("celery -A registry worker")
    assert command_text(s["beat"]).startswith("celery -A registry beat")
    assert "migrate" in command_text(s["migrate"])


def test_app_environment_only_uses_variables_the_settings_read(compose):
    known = settings_variables()
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        assert set(env) <= known, f"{name}: {sorted(set(env) - known)} are not read by registry/settings.py"
        for required in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"):
            assert required in env, f"{name} lacks {required}"
        assert env["DJANGO_DEBUG"] == "0"
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379/")
        # secrets come from the operator's environment, never from the file
        assert env["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")


def test_every_service_has_a_health_check(compose):
    for name in ("web", "worker", "beat", "postgres", "redis"):
        check = compose["services"][name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no health check"
    web_check = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    assert "/healthz" in web_check


def test_start_order_waits_for_healthy_dependencies(compose):
    s = compose["services"]
    assert s["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        deps = s[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert s["beat"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_postgres_keeps_its_data_in_a_volume(compose):
    volumes = compose["services"]["postgres"]["volumes"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in volumes)
    named = volumes[0].split(":")[0]
    assert named in compose["volumes"]


def test_dockerfile_collects_static_files_and_runs_unprivileged():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    assert "collectstatic --no-input" in text
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert "pip install -r requirements.txt" in text
    assert "whitenoise" in (ROOT / "requirements.txt").read_text().lower()


def _pidfile_in_command(service: dict) -> str:
    match = re.search(r"--pid(?:file)?[= ](\S+)", command_text(service))
    assert match, f"no pidfile in {command_text(service)!r}"
    return match.group(1)


def test_hung_services_are_restarted_not_just_marked_unhealthy(compose):
    """Docker restarts a container only when its main process exits: each probe kills the
    main process (by its pidfile) after repeated failures, under an init, with a restart
    policy that brings the container back."""
    for name in ("web", "worker", "beat"):
        service = compose["services"][name]
        assert service["restart"] == "unless-stopped", name
        assert service["init"] is True, name
        test = service["healthcheck"]["test"]
        assert test[:4] == ["CMD", "python", "-m", "ops.probe"] and test[4] == name, test
        pidfile = test[test.index("--pidfile") + 1]
        assert pidfile == _pidfile_in_command(service), name
        kill_after = int(test[test.index("--kill-after") + 1])
        assert 1 <= kill_after <= service["healthcheck"]["retries"], name


def test_the_migrate_job_runs_without_a_statement_limit(compose):
    env = compose["services"]["migrate"]["environment"]
    assert env["DATABASE_STATEMENT_TIMEOUT_MS"] == "0"
    assert env["DATABASE_URL"] == compose["services"]["web"]["environment"]["DATABASE_URL"]
