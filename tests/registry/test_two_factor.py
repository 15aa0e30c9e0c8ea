"""SECURITY.md item 10: TOTP two-factor sign-in (django-otp) with QR enrolment and
one-time backup codes; with REQUIRE_2FA on, a session that passed only the password
cannot read patient data; an administrator's reset is audited."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinical.models import Alert, Severity
from registry.models import ApiToken, AuditEvent, User

pytestmark = [pytest.mark.django_db, pytest.mark.two_factor]

PASSWORD = "correct horse battery staple"


def code_for(device: TOTPDevice, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


def sign_in(username: str) -> Client:
    client = Client()
    assert client.post("/accounts/login/", {"username": username, "password": PASSWORD}).status_code == 302
    return client


def enrol(client: Client, user) -> tuple[TOTPDevice, list[str]]:
    page = client.get("/account/2fa/setup/")
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    done = client.post("/account/2fa/setup/", {"code": code_for(device)})
    assert done.status_code == 200, done.content.decode()[:500]
    codes = re.findall(r"<li><code>([0-9a-f]{10})</code></li>", done.content.decode())
    return TOTPDevice.objects.get(pk=device.pk), codes


def test_required_by_default_outside_debug_and_off_in_the_demo():
    import subprocess
    import sys

    probe = "from django.conf import settings; print(settings.REQUIRE_2FA)"
    env = {"DJANGO_SETTINGS_MODULE": "registry.settings", "DJANGO_SECRET_KEY": "x", "PATH": "/usr/bin:/bin"}
    for debug, expected in (("0", "True"), ("1", "False")):
        out = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {probe}"],
            env={**env, "DJANGO_DEBUG": debug, "DATABASE_URL": "sqlite:///:memory:"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip().splitlines()[-1] == expected


def test_a_password_only_session_cannot_read_patient_data(clinician_a, patient_a):
    Alert.objects.create(
        patient=patient_a, rule="R", subject_key="s", severity=Severity.CRITICAL, severity_rank=3, message="m"
    )
    client = sign_in("clin_a")
    chart = client.get(f"/patients/{patient_a.public_id}/")
    assert chart.status_code == 302 and chart["Location"].startswith("/account/2fa/setup/")
    assert client.get("/patients/").status_code == 302
    api = client.get(f"/api/v1/patients/{patient_a.public_id}/")
    assert api.status_code == 403 and patient_a.registry_code.encode() not in api.content
    # the enrolment page's header carries no count of patient data either
    setup = client.get("/account/2fa/setup/")
    assert setup.status_code == 200 and b"badge critical" not in setup.content


def test_a_researcher_is_not_asked_for_a_second_factor(researcher_a):
    assert sign_in("res_a").get("/patients/").status_code == 200


def test_enrolment_with_a_qr_code_then_sign_in_with_a_code(clinician_a, patient_a):
    client = sign_in("clin_a")
    page = client.get("/account/2fa/setup/").content.decode()
    qr = page.split('<div class="qr" id="qr">')[1].split("</div>")[0]
    assert qr.startswith("<svg") and "<path" in qr and 'id="secret"' in page
    assert "src=" not in qr and "googleapis" not in page  # drawn here, no third-party service
    device = TOTPDevice.objects.get(user=clinician_a, confirmed=False)
    wrong = "000000" if code_for(device) != "000000" else "111111"
    assert client.post("/account/2fa/setup/", {"code": wrong}).status_code == 400
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    TOTPDevice.objects.get(pk=device.pk).throttle_reset()  # a wrong code delays the next try
    device, codes = enrol(client, clinician_a)
    assert device.confirmed and len(codes) == 10 and len(set(codes)) == 10
    assert client.get(f"/patients/{patient_a.public_id}/").status_code == 200
    assert AuditEvent.objects.filter(action="2fa_enrol", user=clinician_a).count() == 1

    # a new sign-in needs the code
    later = sign_in("clin_a")
    chart = later.get(f"/patients/{patient_a.public_id}/")
    assert chart.status_code == 302 and chart["Location"].startswith("/account/2fa/verify/")
    assert later.post("/account/2fa/verify/", {"code": "12345"}).status_code == 400
    device.refresh_from_db()
    device.throttle_reset()  # a wrong code delays the next try
    assert later.post("/account/2fa/verify/", {"code": code_for(device, 1)}).status_code == 302
    assert later.get(f"/patients/{patient_a.public_id}/").status_code == 200
    assert AuditEvent.objects.filter(action="sign_in_failed", user=clinician_a).exists()


def test_a_backup_code_works_once(clinician_a, patient_a):
    _device, codes = enrol(sign_in("clin_a"), clinician_a)
    first = sign_in("clin_a")
    assert first.post("/account/2fa/verify/", {"code": codes[0]}).status_code == 302
    assert first.get("/patients/").status_code == 200
    second = sign_in("clin_a")
    assert second.post("/account/2fa/verify/", {"code": codes[0]}).status_code == 400
    assert second.get("/patients/").status_code == 302


def test_minting_a_token_asks_for_the_code_when_enrolled(clinician_a):
    client = sign_in("clin_a")
    device, _codes = enrol(client, clinician_a)
    refused = client.post("/profile/tokens/", {"name": "x", "password": PASSWORD})
    assert refused.status_code == 400 and not ApiToken.objects.exists()
    # the enrolment code is spent; the next time step's code is accepted (tolerance 1)
    ok = client.post("/profile/tokens/", {"name": "x", "password": PASSWORD, "otp_code": code_for(device, 1)})
    assert ok.status_code == 200 and ApiToken.objects.filter(user=clinician_a).count() == 1


def test_an_administrator_resets_a_lost_phone_and_it_is_audited(clinician_a, registry_admin):
    enrol(sign_in("clin_a"), clinician_a)
    User.objects.filter(pk=registry_admin.pk).update(is_staff=True)
    admin = Client()
    admin.force_login(registry_admin)
    # the administrator's own session has passed its second factor
    admin_device = TOTPDevice.objects.create(user=registry_admin, name="x", confirmed=True)
    session = admin.session
    session["otp_device_id"] = admin_device.persistent_id
    session.save()
    response = admin.post("/admin/registry/user/", {"action": "reset_two_factor", "_selected_action": [clinician_a.pk]})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=clinician_a).exists()
    assert not StaticDevice.objects.filter(user=clinician_a).exists()
    reset = AuditEvent.objects.get(action="2fa_reset")
    assert reset.user == registry_admin and reset.object_id == str(clinician_a.pk)
    # the user enrols again at the next sign-in
    client = sign_in("clin_a")
    assert client.get("/patients/")["Location"].startswith("/account/2fa/setup/")


def test_the_admin_needs_the_second_factor_too(registry_admin):
    User.objects.filter(pk=registry_admin.pk).update(is_staff=True)
    client = sign_in("reg_admin")
    response = client.get("/admin/")
    assert response.status_code == 302 and "/account/2fa/" in response["Location"]
