"""Reads of alerts: the worklist, a patient's open alerts and the API's alert list.
Scoped through ``registry.access``; nothing here filters by site on its own."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from clinical import alerts as rules
from clinical.models import Alert, AlertStatus, Severity
from registry import access
from registry.models import Patient

# The statuses a list can be asked for ("all": every status, withdrawn included).
STATUS_FILTERS = (*AlertStatus.values, "all")

# Most severe first, then the newest evidence: the order of the worklist index.
ORDER = ("severity_rank", "-observed_on", "-id")

# The observed-date filter of the worklist: value -> (label, days back; None for all).
OBSERVED_WITHIN = {
    "30": ("Last 30 days", 30),
    "90": ("Last 90 days", 90),
    "365": ("Last year", 365),
    "": ("Any date", None),
}


@dataclass(frozen=True)
class WorklistFilters:
    severity: str = ""
    rule: str = ""
    site: str = ""  # site code
    observed: str = ""  # a key of OBSERVED_WITHIN
    status: str = AlertStatus.OPEN  # open, acknowledged; withdrawn / all only on request
    historic: bool = False  # include alerts raised on evidence long past

    @property
    def active(self) -> bool:
        return bool(
            self.severity
            or self.rule
            or self.site
            or self.observed
            or self.historic
            or self.status not in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
        )

    @classmethod
    def from_query(cls, params) -> WorklistFilters:
        """Unknown values are ignored rather than refused: a stale bookmark still opens."""
        severity = params.get("severity", "")
        rule = params.get("rule", "")
        observed = params.get("observed", "")
        status = params.get("status", "")
        return cls(
            status=status if status in STATUS_FILTERS else AlertStatus.OPEN,
            historic=params.get("historic") == "1",
            observed=observed if observed in OBSERVED_WITHIN else "",
            severity=severity if severity in Severity.values else "",
            rule=rule if rule in rules.RULES else "",
            site=params.get("site", "").strip()[:16],
        )


def alert_worklist(*, user, filters: WorklistFilters | None = None, today: dt.date | None = None) -> QuerySet[Alert]:
    """Open (or acknowledged) alerts of the user's patients, most severe first, then
    newest evidence; historic ones only when asked for."""
    from clinical.selectors.alert_groups import not_historic

    f = filters or WorklistFilters()
    qs = with_status(access.alerts_for_user(user), f.status)
    if not f.historic:
        qs = not_historic(qs)
    if f.severity:
        qs = qs.filter(severity=f.severity)
    if f.rule:
        qs = qs.filter(rule=f.rule)
    if f.site:
        qs = access.at_site_code(qs, f.site, via="patient__")
    days = OBSERVED_WITHIN[f.observed][1]
    if days is not None:
        since = (today or timezone.localdate()) - dt.timedelta(days=days)
        qs = qs.filter(observed_on__gte=since)
    related = ["patient", "patient__home_site", "lab_result", "course", "dose_change", "visit", "acknowledged_by"]
    if access.can_see_identity(user):
        related.append("patient__identity")
    return qs.select_related(*related).order_by(*ORDER)


def patient_open_alerts(*, patient: Patient, status: str = "") -> list[Alert]:
    """The open alerts of one patient already fetched through ``registry.access`` (one
    query), most severe first; ``status`` ("withdrawn", "all", ...) shows others on request."""
    qs = Alert.objects.filter(patient=patient)
    qs = qs.filter(status=AlertStatus.OPEN) if status not in STATUS_FILTERS else with_status(qs, status)
    rows = list(qs.select_related("lab_result", "course", "dose_change", "visit").order_by(*ORDER))
    for row in rows:
        row.patient = patient  # the caller's instance: no query per row for links
    return rows


# The evidence an alert links to, joined so that a page of alerts is one query.
EVIDENCE = ("lab_result", "course", "visit")


def with_status(qs: QuerySet[Alert], status: str) -> QuerySet[Alert]:
    """Alerts of one status; "all" every status; blank every status but withdrawn (a
    withdrawn alert is shown only on request, RULES.md 5)."""
    if status == "all":
        return qs
    if status:
        return qs.filter(status=status)
    return qs.exclude(status=AlertStatus.WITHDRAWN)


def patient_alerts(*, patient: Patient, status: str = "") -> QuerySet[Alert]:
    """A patient's alerts (one status, "all", or by default all but withdrawn), with
    their evidence."""
    qs = with_status(patient.alerts.select_related(*EVIDENCE), status)
    return qs.order_by("-created_at", "-id")


def patient_alert(*, patient: Patient, public_id) -> Alert:
    return access.one_or_404(patient_alerts(patient=patient, status="all"), public_id, "alert")


@dataclass(frozen=True)
class AlertListFilters:
    """The registry-wide alert list of the API: the worklist's filters, plus a status
    (the worklist shows open alerts only) and an explicit observed date range."""

    severity: str = ""
    rule: str = ""
    site: str = ""
    status: str = ""
    observed: str = ""  # a key of OBSERVED_WITHIN
    observed_from: dt.date | None = None
    observed_to: dt.date | None = None


def alert_list(*, user, filters: AlertListFilters, today: dt.date | None = None) -> QuerySet[Alert]:
    """Alerts of every patient the user may read (registry.access), filtered; newest
    first (the order the API's cursor pages through)."""
    f = filters
    qs = with_status(access.alerts_for_user(user), f.status)  # withdrawn only on request
    if f.severity:
        qs = qs.filter(severity=f.severity)
    if f.rule:
        qs = qs.filter(rule=f.rule)
    if f.site:
        qs = access.at_site_code(qs, f.site, via="patient__")
    days = OBSERVED_WITHIN[f.observed][1]
    if days is not None:
        qs = qs.filter(observed_on__gte=(today or timezone.localdate()) - dt.timedelta(days=days))
    if f.observed_from:
        qs = qs.filter(observed_on__gte=f.observed_from)
    if f.observed_to:
        qs = qs.filter(observed_on__lte=f.observed_to)
    return qs.select_related("patient", "patient__home_site", *EVIDENCE)
