"""Sign-in and sessions (SECURITY.md items 9 and 11), end to end through the login page.

Item 9: five failed sign-ins for one (username, IP) lock that pair for 15 minutes
(django-axes), the failures are logged and stored, a success resets the count, and an
unknown user gets exactly the answer a wrong password gets.
Item 11: the session key changes at sign-in, a cookie is dead after sign-out, 30 idle
minutes end a session, and the cookies carry Secure/HttpOnly/SameSite.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from registry.tokens import token_issue

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"  # tests.factories.make_user
LOGIN = "/accounts/login/"


def login(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def signed_in(client: Client) -> bool:
    return client.get("/patients/").status_code == 200


def fail(client: Client, username: str, times: int, ip: str = "10.0.0.1") -> None:
    """``times`` wrong passwords in a row: the form again, then the lockout page at the 5th."""
    for n in range(1, times + 1):
        response = login(client, username, "not the password", ip)
        assert response.status_code == (200 if n < 5 else 429), n


# --- item 9: lockout --------------------------------------------------------------------


def test_settings_lock_username_and_ip_for_15_minutes_after_5_failures():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert dt.timedelta(minutes=15) == settings.AXES_COOLOFF_TIME
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_RESET_ON_SUCCESS is True
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"


def test_five_failures_lock_even_the_right_password_out_with_a_clear_page(clinician_a, caplog):
    client = Client()
    with caplog.at_level(logging.WARNING, logger="axes"):
        fail(client, "clin_a", 4)
        locked = login(client, "clin_a", "not the password")  # the 5th failure locks
    # (fail() checks the 4 forms; the 5th answer is inspected here)
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Sign-in temporarily locked" in page and "15 minutes" in page and "(5 in a row)" in page
    assert 'name="password"' not in page

    again = login(client, "clin_a", PASSWORD)
    assert again.status_code == 429 and not signed_in(client)

    attempt = AccessAttempt.objects.get(username="clin_a", ip_address="10.0.0.1")
    assert attempt.failures_since_start == 6  # an attempt during the lockout counts too
    assert AccessFailureLog.objects.filter(username="clin_a", ip_address="10.0.0.1").count() >= 5
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("axes")]
    assert any("Locking out" in m and "clin_a" in m for m in logged), logged
    assert "not the password" not in caplog.text  # the password is never logged


def test_lockout_is_per_username_and_ip_pair(clinician_a, clinician_b):
    attacker = Client()
    fail(attacker, "clin_a", 5)
    assert login(attacker, "clin_a", PASSWORD).status_code == 429
    # the same account from another address, and another account from the same address
    other_ip = Client()
    assert login(other_ip, "clin_a", PASSWORD, ip="10.0.0.2").status_code == 302 and signed_in(other_ip)
    other_user = Client()
    assert login(other_user, "clin_b", PASSWORD).status_code == 302 and signed_in(other_user)


def test_a_forged_x_forwarded_for_does_not_dodge_the_lock(clinician_a):
    """Not behind a proxy, the address is the connection's own: a client that sends a new
    X-Forwarded-For on every try is still locked out."""
    client = Client()
    for n in range(1, 6):
        response = client.post(
            LOGIN,
            {"username": "clin_a", "password": "not the password"},
            REMOTE_ADDR="10.0.0.7",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
        assert response.status_code == (200 if n < 5 else 429), n
    response = client.post(
        LOGIN, {"username": "clin_a", "password": PASSWORD}, REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_FOR="203.0.113.99"
    )
    assert response.status_code == 429
    assert not signed_in(client)


def test_behind_the_proxy_the_last_forwarded_hop_is_the_client(settings):
    from django.test import RequestFactory

    from registry.client_ip import client_ip

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.5")
    settings.BEHIND_PROXY = False
    assert client_ip(request) == "10.0.0.2"
    settings.BEHIND_PROXY = True
    assert client_ip(request) == "203.0.113.5"


def test_the_lock_lifts_after_the_cool_off(clinician_a):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        fail(client, "clin_a", 5)
        traveller.shift(dt.timedelta(minutes=14))
        assert login(client, "clin_a", PASSWORD).status_code == 429
        # any attempt during the lockout restarts the cool-off: 15 quiet minutes lift it
        traveller.shift(dt.timedelta(minutes=16))
        assert login(client, "clin_a", PASSWORD).status_code == 302
        assert signed_in(client)


def test_a_success_resets_the_count(clinician_a):
    client = Client()
    fail(client, "clin_a", 4)
    assert login(client, "clin_a", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    fail(client, "clin_a", 4)  # would be the 8th failure without the reset
    assert login(client, "clin_a", PASSWORD).status_code == 302


def test_the_admin_login_is_guarded_too(registry_admin):
    registry_admin.is_staff = True
    registry_admin.save()
    client = Client()
    for _ in range(5):
        client.post("/admin/login/", {"username": "reg_admin", "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
    response = client.post("/admin/login/", {"username": "reg_admin", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 429


def _normalised(content: bytes, username: str) -> str:
    text = content.decode().replace(username, "USERNAME")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken" value=""', text)


def test_unknown_user_and_wrong_password_get_the_same_answer(clinician_a):
    wrong_password = login(Client(), "clin_a", "not the password", ip="10.0.0.7")
    unknown_user = login(Client(), "nobody_here", "not the password", ip="10.0.0.7")
    assert wrong_password.status_code == unknown_user.status_code == 200
    assert _normalised(wrong_password.content, "clin_a") == _normalised(unknown_user.content, "nobody_here")
    # an unknown name is locked out the same way: locking does not reveal which names exist
    client = Client()
    fail(client, "nobody_here", 5)


def test_api_tokens_are_not_counted_and_still_work_after_a_web_lockout(clinician_a, patient_a):
    _token, key = token_issue(user=clinician_a)
    fail(Client(), "clin_a", 5, ip="127.0.0.1")
    api = APIClient()
    for _ in range(6):
        assert api.get("/api/v1/patients/", HTTP_AUTHORIZATION="Bearer wrong-key").status_code == 401
    assert AccessAttempt.objects.filter(username="clin_a").count() == 1  # the web failures only
    response = api.get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200 and str(patient_a.public_id) in response.content.decode()


# --- item 11: sessions ------------------------------------------------------------------


def test_the_session_key_changes_at_sign_in(clinician_a):
    client = Client()
    before = SessionStore()
    before["planted"] = True
    before.create()  # a key an attacker could have fixed in the victim's browser
    client.cookies[settings.SESSION_COOKIE_NAME] = before.session_key
    assert login(client, "clin_a", PASSWORD).status_code == 302
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after and after != before.session_key
    assert not Session.objects.filter(session_key=before.session_key).exists()
    planted = Client()
    planted.cookies[settings.SESSION_COOKIE_NAME] = before.session_key
    assert not signed_in(planted)


def test_the_old_cookie_is_refused_after_sign_out(clinician_a):
    client = Client()
    login(client, "clin_a", PASSWORD)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert signed_in(replay)
    client.post("/accounts/logout/")
    assert not Session.objects.filter(session_key=cookie).exists()
    response = replay.get("/patients/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert replay.get("/api/v1/patients/").status_code in {401, 403}


def test_thirty_idle_minutes_end_the_session_and_activity_renews_it(clinician_a):
    assert settings.SESSION_COOKIE_AGE == 30 * 60 and settings.SESSION_SAVE_EVERY_REQUEST
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        login(client, "clin_a", PASSWORD)
        for _ in range(3):  # 87 minutes in all, never 30 idle
            traveller.shift(dt.timedelta(minutes=29))
            assert signed_in(client)
        traveller.shift(dt.timedelta(minutes=31))
        response = client.get("/patients/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_cookies_set_at_sign_in_carry_the_configured_flags(clinician_a):
    client = Client()
    client.get(LOGIN)
    response = login(client, "clin_a", PASSWORD)
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] is True and session["samesite"] == "Lax"
    assert bool(session["secure"]) is settings.SESSION_COOKIE_SECURE
    assert int(session["max-age"]) == 30 * 60
    csrf = response.cookies.get(settings.CSRF_COOKIE_NAME) or client.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["samesite"] == "Lax"


PROBE = """
import json, os, django
os.environ["DJANGO_SETTINGS_MODULE"] = "registry.settings"
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name) for name in (
    "DEBUG", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE", "CSRF_COOKIE_SAMESITE", "SESSION_COOKIE_AGE", "SESSION_SAVE_EVERY_REQUEST",
    "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_CONTENT_TYPE_NOSNIFF", "REST_FRAMEWORK", "SECURE_REDIRECT_EXEMPT")}))
"""


def production_settings(**extra: str) -> dict:
    """The settings a production environment gets, read in a fresh interpreter."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SECRET_KEY": "k3Y-" + "9fQ2zX7vB1nM4sL8wR6tY0uE5aD3gH" * 2,
        "DATABASE_URL": "postgres://registry:pw@db.example:5432/registry",
        "DJANGO_ALLOWED_HOSTS": "registry.example.org",
        **extra,
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_cookies_are_secure_httponly_samesite():
    s = production_settings()
    assert s["DEBUG"] is False
    assert s["SESSION_COOKIE_SECURE"] is True and s["CSRF_COOKIE_SECURE"] is True
    assert s["SESSION_COOKIE_HTTPONLY"] is True
    assert s["SESSION_COOKIE_SAMESITE"] == "Lax" and s["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert s["SESSION_COOKIE_AGE"] == 1800 and s["SESSION_SAVE_EVERY_REQUEST"] is True
