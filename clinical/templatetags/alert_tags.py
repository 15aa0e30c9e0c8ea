"""Template helpers for alerts: the message in the viewer's units and the evidence link."""

from __future__ import annotations

from django import template
from django.urls import reverse

from clinical import catalogue
from clinical.alerts import RULES, render_alert_message
from clinical.dates import human_date

register = template.Library()


@register.simple_tag
def alert_message(alert, user) -> str:
    system = getattr(user, "unit_system", "") or catalogue.CONVENTIONAL
    return render_alert_message(alert.rule, alert.params, system)


@register.filter
def alert_title(alert) -> str:
    rule = RULES.get(alert.rule)
    return rule.title if rule else alert.rule


@register.simple_tag
def alert_evidence(alert, can_write=False) -> dict:
    """(label, url) of the row the alert points at; the chart for patient-level alerts.
    A lab result opens its read-only view (correcting it is one click further), a visit
    or course its chart section. A deleted evidence row leaves the chart link."""
    chart = reverse("patient-chart", args=[alert.patient.public_id])
    if alert.lab_result_id and alert.lab_result is not None:
        r = alert.lab_result
        label = f"{catalogue.ANALYTES[r.analyte].name if r.analyte in catalogue.ANALYTES else r.analyte} result of {human_date(r.collected_on)}"
        # The read-only view of the evidence, which links to its correction.
        url = reverse("lab-detail", args=[r.public_id])
        return {"label": label, "url": url}
    if alert.dose_change_id and alert.dose_change is not None:
        return {"label": f"dose from {human_date(alert.dose_change.effective_date)}", "url": f"{chart}#tx-title"}
    if alert.course_id and alert.course is not None:
        c = alert.course
        return {"label": f"{c.get_drug_display()} course from {human_date(c.start_date)}", "url": f"{chart}#tx-title"}
    if alert.visit_id and alert.visit is not None:
        v = alert.visit
        url = reverse("visit-edit", args=[v.public_id]) if can_write else f"{chart}#visits-title"
        return {"label": f"visit of {human_date(v.visit_date)}", "url": url}
    return {"label": "patient chart", "url": chart}
