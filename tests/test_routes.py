"""Route inventory: every URL of the app is denied to an anonymous visitor unless it is on
the explicit allowlist below, and a route that takes an object id answers 404 to a user
the object is not visible to.

The routes are found by walking the URL resolver, so a route added anywhere is checked
without touching this file. A new public route must be added to ``PUBLIC`` on purpose.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from tests.factories import make_user

pytestmark = pytest.mark.django_db

# Routes an anonymous visitor may reach, by route string (prefix + pattern), and why.
PUBLIC = {
    "healthz": "load-balancer and compose health check; reveals only 'ok'",
    "readyz": "readiness probe; anonymous callers get the status code only (details for staff)",
    "accounts/login/": "the login page",
    "accounts/logout/": "logging out needs no login",
    "admin/login/": "the admin login page",
    "admin/logout/": "logging out needs no login",
    # Django's admin catch-all answers 404 to unknown admin paths (no data, no redirect).
    "admin/(?P<url>.*)$": "admin catch-all: 404",
    "api/schema/": "the OpenAPI description: no patient data, fetched by client generators without a token",
}

DENIED_STATUSES = {401, 403}
PLAIN_UUID = "0b1f6c3e-8a2d-4c5e-9f7a-1d2e3f4a5b6c"
_CONVERTER_SAMPLE = {"uuid": PLAIN_UUID, "int": "1", "str": "1", "slug": "x", "path": "1"}


def _sample_group(regex: str) -> str:
    for candidate in (PLAIN_UUID, "1", "x"):
        if re.fullmatch(regex, candidate):
            return candidate
    alternatives = regex.split("|")
    if all(re.fullmatch(r"[\w-]+", a) for a in alternatives):
        return alternatives[0]
    raise AssertionError(f"no sample value for the URL group {regex!r}; extend _sample_group")


def _concrete(pattern) -> str:
    """A URL path that matches ``pattern`` (a RoutePattern or RegexPattern)."""
    text = str(pattern)
    if hasattr(pattern, "regex") and not hasattr(pattern, "converters"):
        text = text.lstrip("^").rstrip("$").replace("/?", "/").replace(r"\.", ".")
        text = re.sub(r"\(\?P<\w+>((?:[^()]|\([^()]*\))*)\)", lambda m: _sample_group(m.group(1)), text)
        assert not re.search(r"[()\[\]*+?|\\]", text), f"cannot build a URL for the regex route {pattern}"
        return text
    return re.sub(r"<(?:(\w+):)?\w+>", lambda m: _CONVERTER_SAMPLE.get(m.group(1) or "str", "1"), text)


def all_routes() -> list[tuple[str, str, bool]]:
    """(route string, concrete URL, has parameters) for every leaf route."""
    out = []

    def walk(patterns, route_prefix: str, url_prefix: str, params: bool):
        for p in patterns:
            route = route_prefix + str(p.pattern)
            url = url_prefix + _concrete(p.pattern)
            has_params = params or bool(re.search(r"<|\(\?P<", str(p.pattern)))
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route, url, has_params)
            elif isinstance(p, URLPattern):
                out.append((route, "/" + url, has_params))

    walk(get_resolver().url_patterns, "", "", False)
    return out


ROUTES = all_routes()


def _is_login_redirect(response) -> bool:
    if response.status_code != 302:
        return False
    location = response["Location"]
    return location.startswith(reverse(settings.LOGIN_URL)) or location.startswith(reverse("admin:login"))


def test_the_walk_finds_the_routes():
    routes = {r for r, _, _ in ROUTES}
    assert {"", "healthz", "accounts/login/", "patients/"} <= routes
    assert any(r.startswith("admin/") for r in routes)
    for _route, url, _ in ROUTES:  # every sample URL resolves back to a route
        resolve(url.split("?")[0])
    stale = set(PUBLIC) - routes
    assert not stale, f"allowlisted routes that no longer exist: {sorted(stale)}"


@pytest.mark.parametrize(("route", "url"), [(r, u) for r, u, _ in ROUTES if r not in PUBLIC])
def test_anonymous_is_sent_to_login_or_refused(client, route, url):
    response = client.get(url)
    if response.status_code == 405:  # POST-only views: the POST must be refused too
        response = client.post(url)
    assert _is_login_redirect(response) or response.status_code in DENIED_STATUSES, (
        f"{url} ({route}) answered {response.status_code} to an anonymous visitor; "
        "require login or add it to PUBLIC with a reason"
    )


@pytest.mark.parametrize(
    ("route", "url"), [(r, u) for r, u, p in ROUTES if p and r not in PUBLIC and not r.startswith("admin/")]
)
def test_unknown_object_ids_are_404_for_a_signed_in_user(client, site_b, route, url):
    user = make_user("outsider", site=site_b, role="clinician")
    client.force_login(user)
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url)
    assert response.status_code == 404, f"{url} ({route}) answered {response.status_code} for an unknown id"


PATIENT_ROUTES = [
    (r, u)
    for r, u, _ in ROUTES
    if not r.startswith("admin/")
    and len(re.findall(r"<", r)) == 1
    and ("patients/<uuid:public_id>/" in r or "patients/<uuid:patient_id>/" in r)
]


def test_patient_routes_are_found():
    assert PATIENT_ROUTES, "no patient detail routes found: the filter above is stale"


@pytest.mark.parametrize(("route", "url"), PATIENT_ROUTES)
def test_another_sites_patient_is_404(client, patient_a, clinician_b, route, url):
    client.force_login(clinician_b)
    target = url.replace(PLAIN_UUID, str(patient_a.public_id))
    response = client.get(target)
    if response.status_code == 405:
        response = client.post(target)
    assert response.status_code == 404, f"{target} ({route}) answered {response.status_code} to another site"


@pytest.mark.parametrize("route", sorted(PUBLIC))
def test_public_routes_hold_no_patient_data(client, patient_a, route):
    url = next(u for r, u, _ in ROUTES if r == route)
    response = client.get(url)
    assert patient_a.registry_code.encode() not in response.content
    # readiness answers 503 while not ready (here: no worker heartbeat), with no body
    allowed = {200, 302, 404, 405} | ({503} if route == "readyz" else set())
    assert response.status_code in allowed
