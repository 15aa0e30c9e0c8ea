"""Site scoping lives in ``registry/access.py`` alone: this test reads the source of both
apps and fails when a site or membership filter appears anywhere else.

A "site filter" is a queryset filter (``filter``, ``exclude``, ``get`` or a ``Q``) whose
lookup names a site or a membership (``site=``, ``home_site__code=``, ``site_id__in=``,
``memberships__site_id__in=``, also inside ``**{...}``), or any filter on
``Membership.objects``. Ordering or displaying by site (``order_by("site__code")``) and
writing a row with a site (``Visit(site=...)``) are not filters and pass.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("registry", "clinical")
ALLOWED = {Path("registry/access.py")}

FILTER_CALLS = {"filter", "exclude", "get", "Q"}
SITE_LOOKUP = re.compile(r"(^|__)(home_site|site|sites|membership|memberships)(_id)?(__|$)")


def _lookup_names(call: ast.Call) -> list[str]:
    """The lookup names of a call: its keywords, and the string keys of ``**{...}``."""
    names = []
    for kw in call.keywords:
        if kw.arg is not None:
            names.append(kw.arg)
        elif isinstance(kw.value, ast.Dict):
            for key in kw.value.keys:
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    names.append(key.value)
                elif isinstance(key, ast.JoinedStr):  # f"{via}home_site__code": its literal parts
                    names.extend(v.value for v in key.values if isinstance(v, ast.Constant))
    return names


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _on_membership_manager(call: ast.Call) -> bool:
    """``Membership.objects.<filter>(...)``, whatever the lookups."""
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "objects"
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == "Membership"
    )


def site_filters(source: str, filename: str = "<source>") -> list[str]:
    """Every site or membership filter in ``source``, as "file:line: text"."""
    found = []
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call) or _call_name(node) not in FILTER_CALLS:
            continue
        if _on_membership_manager(node) or any(SITE_LOOKUP.search(n) for n in _lookup_names(node)):
            found.append(f"{filename}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return found


def modules(root: Path = ROOT):
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            rel = path.relative_to(root)
            if rel in ALLOWED or "migrations" in rel.parts or "tests" in rel.parts:
                continue
            yield rel, path.read_text(encoding="utf-8")


def test_no_site_or_membership_filter_outside_access():
    found = [hit for rel, source in modules() for hit in site_filters(source, str(rel))]
    assert found == [], "site scoping belongs in registry/access.py:\n" + "\n".join(found)


def test_the_scan_reads_both_apps():
    read = {rel.parts[0] for rel, _ in modules()}
    assert read == set(APPS)
    assert Path("clinical/selectors/patients.py") in {rel for rel, _ in modules()}


VIOLATIONS = [
    "Patient.objects.filter(home_site__code=code)",
    "qs.filter(home_site_id__in=ids)",
    "qs.exclude(site=site)",
    "PatientIdentity.objects.filter(site=site, mrn=mrn).exists()",
    "Alert.objects.filter(patient__home_site__in=sites)",
    "User.objects.filter(memberships__site_id__in=ids)",
    "Membership.objects.filter(user=user)",
    "Membership.objects.get(user=user, site=site)",
    "qs.filter(Q(home_site_id__in=a) | Q(research_consent=True))",
    'qs.filter(**{f"{via}home_site__code": code})',
    'qs.filter(**{"site_id__in": ids})',
    "Site.objects.get(site_id=1)",
]


def test_the_scan_finds_every_kind_of_site_filter():
    for snippet in VIOLATIONS:
        assert site_filters(snippet), f"not caught: {snippet}"


ALLOWED_SNIPPETS = [
    'memberships.select_related("site").order_by("site__code")',
    "Skinfold(visit=visit, site=s, mm=mm)",
    "Visit.objects.create(patient=patient, site=site)",
    "Membership.objects.get_or_create(user=user, site=site)",
    "access.at_site_code(qs, code)",
    "qs.filter(patient=patient, analyte=analyte)",
    'search_fields = ("user__username", "site__code")',
    "LabImport.objects.filter(user=user)",
]


def test_the_scan_leaves_orderings_and_writes_alone():
    for snippet in ALLOWED_SNIPPETS:
        assert site_filters(snippet) == [], snippet
