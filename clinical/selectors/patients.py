"""Reads for the patient list: the user's patients searched, filtered and sorted, and one
page of them decorated with their latest labs and open alert counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from clinical import flags
from clinical.models import Alert, AlertStatus, LabResult, Severity, TreatmentCourse, Visit
from registry import access, normalize
from registry.models import Patient

LIST_ANALYTES = ("triglycerides", "hba1c")

# sort key in the URL -> ORDER BY; identity sorts are offered to clinical roles only.
# The first click on "Open alerts" or "Last visit" gives the useful order (most alerts,
# latest visit first); "-key" reverses it.
SORTS: dict[str, tuple[str, ...]] = {
    "registry_code": ("registry_code",),
    "site": ("home_site__code", "registry_code"),
    "subtype": ("primary_subtype", "registry_code"),
    "sex": ("sex", "registry_code"),
    "birth_year": ("birth_year", "registry_code"),
    "name": ("identity__family_name", "identity__given_name", "registry_code"),
    "alerts": ("-open_alert_n", "-critical_alert_n", "registry_code"),
    "last_visit": ("-last_visit", "registry_code"),
}
IDENTITY_SORTS = {"name"}
# How the list's caption names each order ("sorted by registry code, ascending").
SORT_LABELS = {
    "registry_code": ("registry code", "ascending", "descending"),
    "site": ("site", "ascending", "descending"),
    "subtype": ("subtype", "ascending", "descending"),
    "sex": ("sex", "ascending", "descending"),
    "birth_year": ("year of birth", "oldest first", "youngest first"),
    "name": ("name", "A to Z", "Z to A"),
    "alerts": ("open alerts", "most first", "fewest first"),
    "last_visit": ("last visit", "latest first", "earliest first"),
}


def sort_caption(sort: str) -> str:
    """The list's order in words, for its caption and the screen reader."""
    key = (sort or "registry_code").lstrip("-")
    name, up, down = SORT_LABELS.get(key, SORT_LABELS["registry_code"])
    return f"sorted by {name}, {down if (sort or '').startswith('-') else up}"


def _order(user, columns: tuple[str, ...], desc: bool) -> list:
    out = []
    for c in columns:
        descending = c.startswith("-") != desc
        name = c.lstrip("-")
        # identity columns sort through access (NULL, last, where identity is hidden)
        expr = access.identity_sort_value(user, name) if name.startswith("identity__") else F(name)
        out.append(expr.desc(nulls_last=True) if descending else expr.asc(nulls_last=True))
    return out


@dataclass(frozen=True)
class PatientFilters:
    q: str = ""
    subtype: str = ""
    site: str = ""
    metreleptin: bool = False
    alerts: bool = False
    sort: str = "registry_code"


def on_metreleptin_q(day: dt.date) -> Exists:
    return Exists(
        TreatmentCourse.objects.filter(patient=OuterRef("pk"), drug="metreleptin", start_date__lte=day).filter(
            Q(end_date__isnull=True) | Q(end_date__gte=day)
        )
    )


def patient_list(*, user, filters: PatientFilters | None = None, search: str = "") -> QuerySet[Patient]:
    """The user's patients, searched, filtered and sorted (not yet paginated)."""
    f = filters or PatientFilters(q=search)
    identity = access.can_see_identity(user)
    qs = access.patients_for_user(user).select_related("home_site")
    if identity:
        qs = qs.select_related("identity")
    q = f.q.strip()
    if q:
        match = Q(registry_code__icontains=q)
        if identity:
            # Names and MRN only match where the user may see identity.
            match |= access.identity_visible_q(user) & (
                Q(identity__family_name__icontains=q)
                | Q(identity__given_name__icontains=q)
                | Q(identity__mrn_key=normalize.mrn_key(q))
            )
        qs = qs.filter(match)
    if f.subtype:
        qs = qs.filter(primary_subtype=f.subtype)
    if f.site:
        qs = access.at_site_code(qs, f.site)
    if f.metreleptin:
        qs = qs.filter(on_metreleptin_q(timezone.localdate()))
    if f.alerts:
        qs = qs.filter(Exists(Alert.objects.filter(patient=OuterRef("pk"), status=AlertStatus.OPEN)))
    sort = f.sort or "registry_code"
    desc = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORTS or (key in IDENTITY_SORTS and not identity):
        key, desc = "registry_code", False
    # The last visit is a column of every row (computed for the page's rows only).
    qs = qs.annotate(
        last_visit=Subquery(
            Visit.objects.filter(patient=OuterRef("pk")).order_by("-visit_date").values("visit_date")[:1]
        )
    )
    if key == "alerts":
        open_alerts = Alert.objects.filter(patient=OuterRef("pk"), status=AlertStatus.OPEN)
        qs = qs.annotate(
            open_alert_n=_count(open_alerts),
            critical_alert_n=_count(open_alerts.filter(severity=Severity.CRITICAL)),
        )
    return qs.order_by(*_order(user, SORTS[key], desc))


def _count(rows: QuerySet) -> Subquery:
    """COUNT(*) of a correlated queryset as an integer annotation (0, never NULL)."""
    counted = rows.order_by().values("patient").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def latest_labs(*, patient_ids, analytes=None) -> dict[tuple[int, str], LabResult]:
    """The latest result per (patient, analyte) for patients already fetched through the
    access layer, in one query (window function, so it works on SQLite and PostgreSQL)."""
    ids = list(patient_ids)
    if not ids:
        return {}
    qs = LabResult.objects.filter(patient_id__in=ids)
    if analytes:
        qs = qs.filter(analyte__in=list(analytes))
    qs = (
        qs.annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("patient_id"), F("analyte")],
                order_by=[F("collected_on").desc(), F("id").desc()],
            )
        )
        .filter(rank=1)
        .only(
            "id",
            "public_id",
            "patient_id",
            "analyte",
            "value",
            "unit",
            "canonical_value",
            "collected_on",
            "fasting",
            "reference_low",
            "reference_high",
        )
    )
    return {(r.patient_id, r.analyte): r for r in qs}


@dataclass
class PatientRow:
    patient: Patient
    show_identity: bool
    labs: list[flags.ShownLab | None]
    open_alerts: int = 0
    critical_alerts: int = 0

    @property
    def subtype_text(self) -> str:
        """The subtype code with break opportunities after "_" (narrow screens)."""
        return self.patient.primary_subtype.replace("_", "_\u200b")


def patient_rows(*, user, patients: list[Patient]) -> list[PatientRow]:
    """Decorate one page of patients with their latest TG / HbA1c and open alert counts
    (two queries whatever the page size)."""
    ids = [p.pk for p in patients]
    latest = latest_labs(patient_ids=ids, analytes=LIST_ANALYTES)
    counts: dict[int, dict[str, int]] = {}
    if ids:
        for row in (
            Alert.objects.filter(patient_id__in=ids, status=AlertStatus.OPEN)
            .values("patient_id", "severity")
            .annotate(n=Count("id"))
        ):
            counts.setdefault(row["patient_id"], {})[row["severity"]] = row["n"]
    system = user.unit_system
    rows = []
    for p in patients:
        shown = []
        for code in LIST_ANALYTES:
            r = latest.get((p.pk, code))
            shown.append(flags.show_lab(r, sex=p.sex, system=system) if r else None)
        c = counts.get(p.pk, {})
        rows.append(
            PatientRow(
                patient=p,
                show_identity=access.can_see_identity(user, p),
                labs=shown,
                open_alerts=sum(c.values()),
                critical_alerts=c.get(Severity.CRITICAL, 0),
            )
        )
    return rows


def open_critical_alert_count(*, user) -> int:
    return access.alerts_for_user(user).filter(status=AlertStatus.OPEN, severity=Severity.CRITICAL).count()
