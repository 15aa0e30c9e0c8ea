"""SECURITY.md items 8, 9, 12 and 35, and the account events of item 23: lockout per
username and per address, password rules at their edges, token expiry and re-entry of the
password, password change and deactivation ending tokens and sessions, admin privilege
boundaries, and every one of these events in the audit trail."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.test import APIClient

from registry.models import ApiToken, AuditEvent, Membership, Role, User
from registry.tokens import token_issue
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/accounts/login/"


def login(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def events(action: str):
    return AuditEvent.objects.filter(action=action)


# --- sign-in, failure, lockout -------------------------------------------------------------


def test_sign_in_and_failures_are_audited_without_the_typed_text(clinician_a):
    client = Client()
    assert login(client, "clin_a", "not the password").status_code == 200
    assert login(client, "somebody-unknown", "not the password").status_code == 200
    assert login(client, "clin_a", PASSWORD).status_code == 302
    failed = list(events("sign_in_failed").order_by("id"))
    assert [e.object_id for e in failed] == [str(clinician_a.pk), ""]
    assert failed[1].reason == "unknown username"
    assert not AuditEvent.objects.filter(object_id__contains="somebody").exists()
    assert events("sign_in").filter(user=clinician_a).count() == 1


def _strip(html: bytes) -> bytes:
    return html.replace(b"clin_a", b"X").replace(b"ghost_user", b"X")


def test_unknown_user_and_wrong_password_get_the_same_answer(clinician_a):
    wrong = login(Client(), "clin_a", "not the password")
    unknown = login(Client(), "ghost_user", "not the password")
    assert wrong.status_code == unknown.status_code == 200
    assert b"csrfmiddlewaretoken" in wrong.content
    import re

    token = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
    assert token.sub(b"", _strip(wrong.content)) == token.sub(b"", _strip(unknown.content))


def test_one_username_from_many_addresses_is_locked_at_the_username_threshold(clinician_a, settings):
    settings.LOCKOUT_USERNAME_LIMIT = 8
    # 2 failures from each of 4 addresses: no pair reaches the pair limit of 5; the 8th
    # failure reaches the username's limit
    answers = [login(Client(), "clin_a", "wrong guess", ip=f"10.1.0.{n // 2}").status_code for n in range(8)]
    assert answers == [200] * 7 + [429]
    response = login(Client(), "clin_a", PASSWORD, ip="10.1.0.99")  # a fresh address, right password
    assert response.status_code == 429
    assert events("lockout").filter(object_id=str(clinician_a.pk)).exists()
    # the answers are the same for a name that is no account
    ghost = [login(Client(), "no_such_user", "wrong guess", ip=f"10.2.0.{n // 2}").status_code for n in range(8)]
    assert ghost == answers
    assert login(Client(), "no_such_user", "wrong guess", ip="10.2.0.99").status_code == 429


def test_one_address_spraying_many_usernames_is_locked_at_the_address_threshold(clinician_a, settings):
    settings.LOCKOUT_ADDRESS_LIMIT = 6
    # one try per name: no username and no pair reaches its limit; the 6th reaches the address's
    answers = [login(Client(), f"sprayed{n}", "Winter2026!", ip="10.3.0.1").status_code for n in range(6)]
    assert answers == [200] * 5 + [429]
    assert login(Client(), "clin_a", PASSWORD, ip="10.3.0.1").status_code == 429
    # another address is not affected
    assert login(Client(), "clin_a", PASSWORD, ip="10.3.0.2").status_code == 302


def test_thresholds_are_wider_than_the_pair_limit():
    assert settings.LOCKOUT_USERNAME_LIMIT > settings.AXES_FAILURE_LIMIT
    assert settings.LOCKOUT_ADDRESS_LIMIT > settings.LOCKOUT_USERNAME_LIMIT


# --- password rules (item 8) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("mauve-otter9", True),  # 12 characters
        ("mauve-otter", False),  # 11 characters
        ("password1234", False),  # common
        ("123456789012", False),  # numeric (and common)
        ("clinician_ada!", False),  # too similar to the username
        ("a-long-passphrase-of-many-words-" * 2, True),  # 64 characters
    ],
)
def test_password_validators_at_their_edges(password, ok):
    user = User(username="clinician_ada", first_name="Ada")
    assert len(password) in {11, 12, 14, 64}
    if ok:
        validate_password(password, user)
    else:
        with pytest.raises(ValidationError):
            validate_password(password, user)


# --- tokens (item 12) ---------------------------------------------------------------------


def test_a_token_expires_after_90_days_and_the_page_shows_when(clinician_a):
    token, key = token_issue(user=clinician_a, name="ehr")
    assert settings.API_TOKEN_DAYS == 90
    assert abs(token.expires_at - token.created_at - dt.timedelta(days=90)) < dt.timedelta(seconds=5)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/sites/").status_code == 200
    with time_machine.travel(token.expires_at + dt.timedelta(seconds=1)):
        assert api.get("/api/v1/sites/").status_code == 401
    client = Client()
    client.force_login(clinician_a)
    page = client.get("/profile/tokens/").content.decode()
    assert f"{token.expires_at.day} {token.expires_at:%b %Y}" in page and "90 days" in page  # one date format


def test_minting_a_token_needs_the_password_and_is_audited(clinician_a):
    client = Client()
    client.force_login(clinician_a)
    refused = client.post("/profile/tokens/", {"name": "x", "password": "wrong"})
    assert refused.status_code == 400 and not ApiToken.objects.exists()
    assert client.post("/profile/tokens/", {"name": "x"}).status_code == 400
    assert client.post("/profile/tokens/", {"name": "x", "password": PASSWORD}).status_code == 200
    token = ApiToken.objects.get()
    issue = events("token_issue").get()
    assert issue.user == clinician_a and issue.object_id == str(token.pk)
    client.post(f"/profile/tokens/{token.pk}/revoke/")
    assert events("token_revoke").get().user == clinician_a


def test_a_password_change_revokes_tokens_and_is_audited(clinician_a):
    _token, key = token_issue(user=clinician_a)
    client = Client()
    client.force_login(clinician_a)
    new = "a brand new passphrase"
    response = client.post("/account/password/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
    assert response.status_code == 302
    assert not ApiToken.objects.filter(user=clinician_a, revoked_at__isnull=True).exists()
    change = events("password_change").get()
    assert change.user == clinician_a and change.object_id == str(clinician_a.pk)
    assert "brand new" not in str(change.changes)
    assert events("token_revoke").get().reason == "password changed"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/sites/").status_code == 401


# --- deactivation, roles, memberships -----------------------------------------------------


def test_deactivation_ends_sessions_and_tokens_at_once(clinician_a, registry_admin):
    _token, key = token_issue(user=clinician_a)
    victim = Client()
    assert login(victim, "clin_a", PASSWORD).status_code == 302
    assert victim.get("/patients/").status_code == 200
    victim_session = victim.session.session_key
    assert Session.objects.filter(pk=victim_session).exists()

    admin = Client()
    admin.force_login(registry_admin)
    clinician_a.is_active = False
    # the change is made through the admin's request, so the actor is known
    from registry.account_events import _actor

    token = _actor.set(registry_admin)
    try:
        clinician_a.save()
    finally:
        _actor.reset(token)
    assert not Session.objects.filter(pk=victim_session).exists()
    assert victim.get("/patients/").status_code == 302
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/sites/").status_code == 401
    assert ApiToken.objects.get(user=clinician_a).revoked_at is not None
    deactivated = events("deactivate").get()
    assert deactivated.user == registry_admin and deactivated.object_id == str(clinician_a.pk)


def test_membership_and_role_changes_are_audited(site_a, site_b, clinician_a):
    m = Membership.objects.create(user=clinician_a, site=site_b, role=Role.RESEARCHER)
    m.role = Role.CLINICIAN
    m.save()
    m.delete()
    clinician_a.is_staff = True
    clinician_a.save()
    changes = [e.changes for e in events("role_change").filter(object_id=str(clinician_a.pk)).order_by("id")]
    assert {"role": [None, "clinician"]}.items() <= changes[0].items()  # the fixture's own membership
    assert changes[1]["role"] == [None, "researcher"] and changes[1]["site"] == [None, site_b.pk]
    assert changes[2]["role"] == ["researcher", "clinician"]
    assert changes[3]["role"] == ["clinician", None]
    assert changes[4] == {"is_staff": [False, True]}


# --- admin privilege boundaries (item 35) ---------------------------------------------------


def staff(user):
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.refresh_from_db()
    return user


@pytest.fixture
def admin_client(registry_admin):
    staff(registry_admin)
    client = Client()
    client.force_login(registry_admin)
    return client


def _change_url(user) -> str:
    return f"/admin/registry/user/{user.pk}/change/"


def test_a_registry_admin_cannot_change_a_superuser_a_peer_or_themselves(admin_client, registry_admin, site_a):
    root = User.objects.create_superuser("root", password=PASSWORD)
    peer = make_user("peer_admin", site=site_a, role=Role.REGISTRY_ADMIN)
    for target in (root, peer, registry_admin):
        before = User.objects.get(pk=target.pk)
        response = admin_client.post(
            _change_url(target), {"username": target.username, "first_name": "Hacked", "is_active": "on"}
        )
        assert response.status_code == 403, (target.username, response.status_code)
        assert User.objects.get(pk=target.pk).first_name == before.first_name


def test_a_registry_admin_can_change_a_clinician_but_not_their_password(admin_client, clinician_a):
    page = admin_client.get(_change_url(clinician_a))
    assert page.status_code == 200
    url = f"/admin/registry/user/{clinician_a.pk}/password/"
    assert admin_client.get(url).status_code == 403
    new = "taken over passphrase"
    assert admin_client.post(url, {"password1": new, "password2": new}).status_code == 403
    clinician_a.refresh_from_db()
    assert clinician_a.check_password(PASSWORD)


def test_a_registry_admin_cannot_give_themselves_or_a_peer_a_membership(admin_client, registry_admin, site_b):
    response = admin_client.post(
        "/admin/registry/membership/add/", {"user": registry_admin.pk, "site": site_b.pk, "role": "clinician"}
    )
    assert response.status_code == 200  # the form refuses the choice
    assert not Membership.objects.filter(user=registry_admin, site=site_b).exists()
    own = Membership.objects.get(user=registry_admin)
    assert admin_client.post(f"/admin/registry/membership/{own.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Membership.objects.filter(pk=own.pk).exists()


def test_a_membership_granted_in_the_admin_is_audited_with_its_author(admin_client, registry_admin, site_b):
    clinician = make_user("new_clin")
    response = admin_client.post(
        "/admin/registry/membership/add/", {"user": clinician.pk, "site": site_b.pk, "role": "clinician"}
    )
    assert response.status_code == 302
    event = events("role_change").filter(object_id=str(clinician.pk)).get()
    assert event.user == registry_admin and event.changes["role"] == [None, "clinician"]


def test_a_site_lead_cannot_change_their_own_role(lead_a):
    client = Client()
    client.force_login(staff(lead_a))
    own = Membership.objects.get(user=lead_a)
    response = client.post(
        f"/admin/registry/membership/{own.pk}/change/", {"user": lead_a.pk, "site": own.site_id, "role": "clinician"}
    )
    assert response.status_code == 403
    own.refresh_from_db()
    assert own.role == Role.SITE_LEAD


def test_a_superuser_may_set_another_users_password(clinician_a):
    root = User.objects.create_superuser("root", password=PASSWORD)
    client = Client()
    client.force_login(root)
    new = "set by the superuser"
    url = f"/admin/registry/user/{clinician_a.pk}/password/"
    response = client.post(url, {"password1": new, "password2": new, "usable_password": "true"})
    assert response.status_code == 302
    clinician_a.refresh_from_db()
    assert clinician_a.check_password(new)
    assert events("password_change").get().user == root


def test_session_of_a_user_whose_password_changed_elsewhere_is_dead(clinician_a):
    client = Client()
    login(client, "clin_a", PASSWORD)
    assert client.get("/patients/").status_code == 200
    clinician_a.set_password("changed somewhere else")
    clinician_a.save()
    assert client.get("/patients/").status_code == 302  # the session hash no longer matches
