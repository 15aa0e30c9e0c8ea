"""Settings from the environment, checked in fresh interpreters with a clean environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "registry.settings"
django.setup()
from django.conf import settings as s
print(json.dumps({
    "engine": s.DATABASES["default"]["ENGINE"],
    "eager": s.CELERY_TASK_ALWAYS_EAGER,
    "broker": s.CELERY_BROKER_URL,
    "cache": s.CACHES["default"]["BACKEND"],
    "debug": s.DEBUG,
    "hosts": s.ALLOWED_HOSTS,
    "secure_cookies": s.SESSION_COOKIE_SECURE,
}))
"""


def run(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_missing_secret_key_stops_start_up_with_a_clear_message():
    result = run({})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert "DJANGO_DEBUG=1" in result.stderr


def test_demo_defaults_need_no_variable_but_debug():
    result = run({"DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["engine"] == "django.db.backends.sqlite3"
    assert out["eager"] is True and out["broker"] == "memory://"
    assert out["cache"].endswith("LocMemCache")
    assert out["debug"] is True
    assert "*" not in out["hosts"] and "localhost" in out["hosts"]


def test_production_variables_select_postgres_and_redis():
    result = run(
        {
            "DJANGO_SECRET_KEY": "x" * 50,
            "DATABASE_URL": "postgres://u:p@db.example:5432/registry",
            "REDIS_URL": "redis://cache.example:6379/0",
            "DJANGO_ALLOWED_HOSTS": "registry.example.org, localhost",
        }
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["engine"] == "django.db.backends.postgresql"
    assert out["eager"] is False and out["broker"] == "redis://cache.example:6379/0"
    assert out["cache"].endswith("RedisCache")
    assert out["debug"] is False and out["secure_cookies"] is True
    assert out["hosts"] == ["registry.example.org", "localhost"]


def test_a_malformed_boolean_is_refused():
    result = run({"DJANGO_DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DJANGO_DEBUG='maybe' is not a boolean" in result.stderr


def test_offline_commands_run_without_a_secret_but_serving_commands_do_not():
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    offline = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert offline.returncode == 0, offline.stderr[-2000:]
    serving = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--plan"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert serving.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in serving.stderr
