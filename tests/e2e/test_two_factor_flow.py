"""Two-factor sign-in in a real browser, REQUIRE_2FA on: a clinician signs in with the
password, is sent to enrolment, scans nothing (the key is read from the page, the code is
computed here as an authenticator app would), gets the backup codes, reaches the patients;
the next sign-in asks for a code."""

from __future__ import annotations

import base64
import re

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.models import AuditEvent
from tests.factories import make_site, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.two_factor, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


def code(device: TOTPDevice, drift: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=drift):06d}"


def password_step(page, base: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill("clin_a")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_enrol_then_sign_in_with_a_code(live_server, e2e_settings, browser):
    user = make_user("clin_a", site=make_site("SITEA", "Hospital A", "FR"), role="clinician")
    base = live_server.url
    ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(10_000)

    password_step(page, base)
    page.wait_for_url(re.compile(r".*/account/2fa/setup/\?next=.*"))
    assert page.locator("#qr svg path").count() == 1
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert page.locator("#secret").inner_text().strip() == base64.b32encode(device.bin_key).decode()
    page.get_by_role("textbox", name="Authentication code").fill(code(device))
    page.get_by_role("button", name="Confirm").click()
    assert page.locator("#backup-codes li").count() == 10
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(re.compile(r".*/patients/$"))

    page.get_by_role("button", name="Log out").click()
    password_step(page, base)
    page.wait_for_url(re.compile(r".*/account/2fa/verify/.*"))
    page.goto(base + "/patients/")
    assert "/account/2fa/verify/" in page.url  # still nothing without the code
    page.get_by_role("textbox", name="Authentication code").fill(code(device, drift=1))  # the next step's code
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r".*/patients/$"))
    assert AuditEvent.objects.filter(user=user, action="2fa_enrol").count() == 1
    ctx.close()
