"""The worklist grouped by patient and rule, historic alerts, and the header's counts.
Scoped through ``registry.access`` (via ``clinical.selectors.alerts``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.db.models import Count, F, Max, Min, Q, QuerySet

from clinical.models import Alert, AlertStatus, Severity, alert_historic_q
from registry import access


def historic_q() -> Q:
    """Alerts whose evidence is more than HISTORIC_EVIDENCE_DAYS older than the day they
    were raised (the database form of ``clinical.historic.is_historic``; defined with the
    model, whose index for the header's counts has the same condition)."""
    return alert_historic_q()


def not_historic(qs: QuerySet[Alert]) -> QuerySet[Alert]:
    return qs.exclude(historic_q())


@dataclass
class AlertGroup:
    """The alerts of one patient under one rule, newest evidence first."""

    patient_id: int
    rule: str
    alerts: list[Alert] = field(default_factory=list)

    @property
    def latest(self) -> Alert:
        return self.alerts[0]

    @property
    def count(self) -> int:
        return len(self.alerts)

    @property
    def earlier(self) -> list[Alert]:
        return self.alerts[1:]


def group_keys(qs: QuerySet[Alert]):
    """(patient, rule) groups of an alert queryset, most severe first, then the newest
    evidence: what the worklist paginates."""
    return (
        qs.order_by()
        .values("patient_id", "rule")
        .annotate(rank=Min("severity_rank"), latest_on=Max("observed_on"), n=Count("id"))
        .order_by("rank", F("latest_on").desc(nulls_last=True), "patient_id", "rule")
    )


def groups_for(qs: QuerySet[Alert], keys: list[dict]) -> list[AlertGroup]:
    """The alerts of one page of group keys (one query), in the keys' order."""
    if not keys:
        return []
    match = reduce(or_, (Q(patient_id=k["patient_id"], rule=k["rule"]) for k in keys))
    groups = {(k["patient_id"], k["rule"]): AlertGroup(k["patient_id"], k["rule"]) for k in keys}
    for alert in qs.filter(match).order_by(F("observed_on").desc(nulls_last=True), "-id"):
        groups[(alert.patient_id, alert.rule)].alerts.append(alert)
    return [g for g in groups.values() if g.alerts]


def header_alert_counts(*, user) -> tuple[int, int]:
    """(open, open critical) alerts of the user's patients, historic ones left out: one
    query for the header on every page."""
    # Counted over columns of alert_status_cover_idx (not the id, which it lacks), so the
    # count reads only that index; severity is never null.
    counts = not_historic(access.alerts_for_user(user).filter(status=AlertStatus.OPEN)).aggregate(
        n=Count("*"), critical=Count("severity", filter=Q(severity=Severity.CRITICAL))
    )
    return counts["n"], counts["critical"]
