"""What the pages send back (SECURITY.md items 14 and 20).

One patient whose every free-text field holds markup (names, MRN, notes, visit notes,
consent version, course notes, alert message and acknowledgement note, import file name
and cells, a user's name, a token's name) is shown on every main page, the admin and the
API. Item 20: the markup never comes back unescaped. Item 14: no page carries an inline
script (the CSP allows scripts from 'self' only, so one would break the page), no inline
event handler and no ``javascript:`` URL; patient pages and the API are ``no-store``;
HSTS, nosniff and the CSP are sent; the browsable API is off.
"""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from clinical import services, tasks
from clinical.models import Alert
from clinical.services.lab_import import lab_import_upload
from registry import services as registry_services
from registry.tokens import token_issue
from tests.factories import make_course, make_lab, make_patient, make_user, make_visit

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("x1")</script>'
IMG = '"><img src=x onerror=alert(2)>'
SHORT = "<script>v</script>"  # fits the 20-character consent version
PAYLOADS = (SCRIPT, IMG, SHORT)
# the executable part of each payload, as it would appear if not escaped
RAW = ("<script>alert(", "<img src=x onerror", "<script>v</script>")
ESCAPED = ("&lt;script&gt;alert(", "&lt;img src=x onerror=alert(2)&gt;", "&lt;script&gt;v&lt;/script&gt;")


@pytest.fixture
def hostile(site_a, clinician_a):
    """A patient, a visit, a lab with an alert, a course, a consent, an import and a user,
    all carrying markup in their text."""
    author = make_user("hostile_user", site=site_a, role="clinician", first_name=SCRIPT, last_name=IMG)
    patient = make_patient(site=site_a, by=author, family_name=SCRIPT, given_name=IMG, mrn=IMG)
    registry_services.diagnosis_add(patient=patient, subtype="FPLD2", by=clinician_a, notes=SCRIPT)
    registry_services.consent_record(
        patient=patient, research_use=True, version=SHORT, consented_on=dt.date(2020, 1, 1), by=clinician_a
    )
    visit = make_visit(
        patient=patient, by=author, visit_date=dt.date(2024, 1, 5), weight_kg=60, height_cm=165, notes=SCRIPT + IMG
    )
    lab = make_lab(patient=patient, value="1200", collected_on=dt.date(2024, 1, 5), by=author)
    course = make_course(patient=patient, start_date=dt.date(2024, 1, 6), dose=5, by=author, notes=IMG)
    tasks.evaluate_patient(patient.pk)  # (the on-commit enqueue does not fire inside a test transaction)
    alert = Alert.objects.get(patient=patient, rule="TG_SEVERE")
    Alert.objects.filter(pk=alert.pk).update(message=SCRIPT + IMG)
    services.alert_acknowledge(alert=alert, by=clinician_a, note=IMG + SCRIPT)
    other = make_patient(site=site_a, by=clinician_a)  # an open alert for the worklist
    make_lab(patient=other, value="1300", collected_on=dt.date(2024, 2, 1), by=author)
    tasks.evaluate_patient(other.pk)
    assert Alert.objects.filter(patient=other).update(message=IMG + SCRIPT)
    csv = (
        "registry_code,mrn,analyte,value,unit,collected_on,fasting\r\n"
        f'{patient.registry_code},,"{SCRIPT}",5.2,"{IMG}",2024-03-01,yes\r\n'
    )
    lab_import, _plan = lab_import_upload(user=clinician_a, filename=SCRIPT + ".csv", content=csv.encode())
    token_issue(user=clinician_a, name=SCRIPT)
    return {"patient": patient, "visit": visit, "lab": lab, "course": course, "import": lab_import}


def pages(h) -> dict[str, str]:
    p = h["patient"].public_id
    return {
        "list": reverse("patient-list"),
        "search": reverse("patient-list") + "?q=" + SCRIPT,
        "chart": reverse("patient-chart", args=[p]),
        "history": reverse("patient-history", args=[p]),
        "labs": reverse("patient-labs", args=[p]),
        "visit edit": reverse("visit-edit", args=[h["visit"].public_id]),
        "lab edit": reverse("lab-edit", args=[h["lab"].public_id]),
        "dose new": reverse("dose-new", args=[h["course"].public_id]),
        "consent": reverse("patient-consent", args=[p]),
        "alerts": reverse("alert-worklist") + "?historic=1",  # 2024 evidence: historic today
        "alerts acknowledged": reverse("alert-worklist") + "?status=acknowledged&historic=1",
        "import upload": reverse("lab-import"),
        "import preview": reverse("lab-import-preview", args=[h["import"].public_id]),
        "tokens": "/profile/tokens/",
        "profile": reverse("profile"),
        "register": reverse("patient-register"),
        "visit new": reverse("visit-new", args=[p]),
        "lab new": reverse("lab-new", args=[p]),
        "course new": reverse("course-new", args=[p]),
    }


# Pages that must show at least one of the payloads (escaped): proof the text was rendered.
SHOWS_PAYLOAD = {
    "list",
    "search",
    "chart",
    "history",
    "visit edit",
    "consent",
    "alerts",
    "alerts acknowledged",
    "import upload",
    "import preview",
    "tokens",
}


class Scripts(HTMLParser):
    """Collects what the CSP (script-src 'self') would block or what runs inline."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"inline handler {name}= on <{tag}>")
            if name in {"href", "src", "action", "formaction"} and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"javascript: URL in <{tag} {name}>")
        if tag == "script":
            self._in_script = attrs
            if attrs.get("src", "").startswith(("http:", "https:", "//")):
                self.problems.append(f"script from another origin: {attrs['src']}")

    def handle_data(self, data):
        if self._in_script is None:
            return
        kind = (self._in_script.get("type") or "").lower()
        if kind == "application/json":
            json.loads(data)  # data only, and well formed
        elif data.strip():
            self.problems.append(f"inline executable script: {data.strip()[:80]!r}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None


def inline_script_problems(html: str) -> list[str]:
    parser = Scripts()
    parser.feed(html)
    return parser.problems


def test_the_scanner_finds_what_the_csp_would_block():
    bad = (
        '<script>alert(1)</script><a href="javascript:x()">a</a><button onclick="x()">b</button>'
        '<script src="https://cdn.example/x.js"></script>'
    )
    assert len(inline_script_problems(bad)) == 4
    good = '<script type="application/json" id="d">{"a": "\\u003c/script\\u003e"}</script><script src="/static/a.js"></script>'
    assert inline_script_problems(good) == []


def test_every_main_page_escapes_markup_and_has_no_inline_script(client, clinician_a, hostile):
    client.force_login(clinician_a)
    for name, url in pages(hostile).items():
        response = client.get(url)
        assert response.status_code == 200, (name, url, response.status_code)
        html = response.content.decode()
        for raw in RAW:
            assert raw not in html, f"{name}: unescaped {raw!r}"
        if name in SHOWS_PAYLOAD:
            assert any(e in html for e in ESCAPED), f"{name}: the stored text is not shown at all"
        assert inline_script_problems(html) == [], name
        # JSON data blocks may not be closed early by a value: '<' is escaped inside them
        for block in html.split('type="application/json"')[1:]:
            body = block.split(">", 1)[1].split("</script>", 1)[0]
            assert "<" not in body, name
        if name != "profile":  # the unit preference page holds no patient data
            assert "no-store" in response["Cache-Control"], name
        csp = response["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert response["X-Content-Type-Options"] == "nosniff"


def test_the_login_page_and_api_docs_have_no_inline_script(client, clinician_a):
    assert inline_script_problems(client.get(reverse("login")).content.decode()) == []
    client.force_login(clinician_a)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and inline_script_problems(docs.content.decode()) == []


def test_the_admin_escapes_markup(client, registry_admin, hostile):
    registry_admin.is_staff = registry_admin.is_superuser = True
    registry_admin.save()
    client.force_login(registry_admin)
    urls = ["/admin/registry/patientidentity/", "/admin/registry/apitoken/", "/admin/clinical/labimport/"]
    identity = hostile["patient"].identity
    urls.append(f"/admin/registry/patientidentity/{identity.pk}/change/")
    shown = 0
    for url in urls:
        response = client.get(url)
        if response.status_code == 404:  # model not registered in the admin
            continue
        assert response.status_code == 200, url
        html = response.content.decode()
        for raw in RAW:
            assert raw not in html, f"{url}: unescaped {raw!r}"
        shown += any(e in html for e in ESCAPED)
    assert shown, "no admin page showed the stored text"


def test_the_api_returns_text_verbatim_as_json_only(clinician_a, hostile):
    _token, key = token_issue(user=clinician_a)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    patient = hostile["patient"]
    for url in ("/api/v1/patients/", f"/api/v1/patients/{patient.public_id}/"):
        # asking for HTML still gets JSON: no browsable API page to inject into
        response = api.get(url, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("application/json")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Cache-Control"] == "no-store"
    body = api.get(f"/api/v1/patients/{patient.public_id}/").json()
    assert body["family_name"] == SCRIPT and body["given_name"] == IMG  # stored as typed, not mangled


def test_hsts_is_sent_over_https(client):
    assert settings.SECURE_HSTS_SECONDS >= 31536000
    response = client.get("/healthz", secure=True)
    assert response["Strict-Transport-Security"].startswith(f"max-age={settings.SECURE_HSTS_SECONDS}")
    assert "includeSubDomains" in response["Strict-Transport-Security"]


def test_pages_outside_patient_data_may_be_cached_but_not_patient_ones(client):
    assert "Cache-Control" not in client.get("/healthz")
    assert client.get(reverse("patient-list"))["Cache-Control"] == "no-store"  # even the redirect to login
    assert Client().get("/api/v1/patients/")["Cache-Control"] == "no-store"
