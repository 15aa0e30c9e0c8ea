"""OPTIONS on every API route (walked from the URL resolver) for every role: 200 with the
allowed methods, or 405; never a 5xx. DRF's default metadata built the request
serializer (and fetched the object) to describe the body, and answered 500 on every
view that accepts writes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from registry.tokens import token_issue
from tests.factories import make_user
from tests.test_routes import ROUTES

API_ROUTES = [(route, url) for route, url, _ in ROUTES if route.startswith("api/")]
PUBLIC_API = {"api/schema/"}


def test_the_walk_finds_every_api_route():
    routes = {route for route, _ in API_ROUTES}
    assert {"api/v1/patients/", "api/v1/alerts/", "api/schema/", "api/docs/"} <= routes
    assert len(routes) >= 25, sorted(routes)


def _client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user, name='options')[1]}")
    return client


@pytest.fixture
def clients(site_a, clinician_a, researcher_a):
    admin = make_user("options_admin", site=site_a, role="registry_admin")
    return {
        "clinician": _client(clinician_a),
        "researcher": _client(researcher_a),
        "registry_admin": _client(admin),
        "anonymous": _client(None),
    }


@pytest.mark.django_db
def test_options_answers_allowed_methods_on_every_api_route_for_every_role(clients):
    for who, client in clients.items():
        for route, url in API_ROUTES:
            response = client.options(url)
            assert response.status_code < 500, f"{who} OPTIONS {url}: {response.status_code}"
            if who == "anonymous" and route not in PUBLIC_API:
                assert response.status_code == 401, f"{who} OPTIONS {url}: {response.status_code}"
                continue
            assert response.status_code in (200, 405), f"{who} OPTIONS {url}: {response.status_code}"
            if response.status_code == 200:
                allowed = {m.strip() for m in response["Allow"].split(",")}
                assert "OPTIONS" in allowed, (url, allowed)
                assert set(response.data["allowed_methods"]) == allowed, url


@pytest.mark.django_db
def test_options_lists_the_methods_of_the_view(clients):
    body = clients["clinician"].options("/api/v1/patients/").json()
    assert set(body["allowed_methods"]) == {"GET", "POST", "HEAD", "OPTIONS"}
    assert "application/json" in body["parses"] and "actions" not in body
    detail = clients["researcher"].options("/api/v1/patients/0b1f6c3e-8a2d-4c5e-9f7a-1d2e3f4a5b6c/")
    assert detail.status_code == 200
    assert {"GET", "PUT", "PATCH"} <= set(detail.json()["allowed_methods"])
