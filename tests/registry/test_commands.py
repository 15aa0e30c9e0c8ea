"""Operator commands: create_registry_user (idempotent) and issue_api_token."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from registry.models import ApiToken, Membership, User

PASSWORD = "a long enough passphrase 2024"


@pytest.mark.django_db
def test_create_registry_user_is_idempotent(tmp_path, site_a, capsys):
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    args = ["ehr_bot", "--password-file", str(pw), "--site", "SITEA", "--role", "clinician"]
    call_command("create_registry_user", *args)
    call_command("create_registry_user", *args)
    out = capsys.readouterr().out
    assert "Created user ehr_bot" in out and "Updated user ehr_bot" in out
    user = User.objects.get(username="ehr_bot")
    assert user.check_password(PASSWORD)
    assert list(Membership.objects.filter(user=user).values_list("role", flat=True)) == ["clinician"]
    call_command("create_registry_user", *args[:-1], "researcher")
    assert list(Membership.objects.filter(user=user).values_list("role", flat=True)) == ["researcher"]


@pytest.mark.django_db
def test_create_registry_user_refuses_weak_password_and_unknown_site(tmp_path, site_a):
    pw = tmp_path / "pw"
    pw.write_text("short")
    with pytest.raises(CommandError, match="Password refused"):
        call_command("create_registry_user", "u1", "--password-file", str(pw), "--site", "SITEA", "--role", "clinician")
    pw.write_text(PASSWORD)
    with pytest.raises(CommandError, match="No site"):
        call_command("create_registry_user", "u1", "--password-file", str(pw), "--site", "NOPE", "--role", "clinician")
    assert not User.objects.filter(username="u1").exists()


@pytest.mark.django_db
def test_issue_api_token_prints_a_working_key(clinician_a, capsys):
    call_command("issue_api_token", clinician_a.username, "--name", "EHR")
    key = capsys.readouterr().out.strip()
    assert key.startswith("ldr_")
    token = ApiToken.objects.get(user=clinician_a)
    assert token.name == "EHR" and token.key_hash == ApiToken.hash_key(key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/sites/").status_code == 200
    with pytest.raises(CommandError):
        call_command("issue_api_token", "nobody")


@pytest.mark.django_db
def test_token_pages_show_key_once_and_revoke(client, clinician_a, clinician_b):
    client.force_login(clinician_a)
    page = client.post("/profile/tokens/", {"name": "script", "password": "correct horse battery staple"})
    token = ApiToken.objects.get(user=clinician_a)
    html = page.content.decode()
    assert page.status_code == 200 and token.prefix in html and "shown only once" in html
    assert "shown only once" not in client.get("/profile/tokens/").content.decode()
    other_token = ApiToken.objects.create(user=clinician_b, prefix="x", key_hash="y" * 64)
    assert client.post(f"/profile/tokens/{other_token.pk}/revoke/").status_code == 404
    assert client.post(f"/profile/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    other_token.refresh_from_db()
    assert token.revoked_at is not None and other_token.revoked_at is None
    client.logout()
    assert client.get("/profile/tokens/").status_code == 302
