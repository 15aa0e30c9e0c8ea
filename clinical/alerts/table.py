"""The rule table: each alert rule's code, title, severity, finder and message, and the
two entry points, :func:`evaluate_alerts` and :func:`render_alert_message`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from clinical.alerts.messages import (
    message_after_stop,
    message_dose,
    message_glucose,
    message_hypo_start,
    message_hys,
    message_liver,
    message_loss,
    message_lymphoma,
    message_non_response,
    message_overdue,
    message_tg,
    message_unit,
    message_weight,
)
from clinical.alerts.rules import (
    AlertCandidate,
    rule_dose_above_max,
    rule_glucose,
    rule_hypo_risk_at_start,
    rule_liver,
    rule_loss_of_effect,
    rule_lymphoma_vigilance,
    rule_monitoring_overdue,
    rule_non_response,
    rule_tg_after_stop,
    rule_triglycerides,
    rule_unit_error,
    rule_weight_loss,
)
from clinical.records import PatientRecord

CRITICAL, WARNING, INFO = "critical", "warning", "info"
SEVERITY_RANK = {CRITICAL: 0, WARNING: 1, INFO: 2}


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    severity: str
    subject: str  # lab / course / dose / visit / patient
    find: Callable[[PatientRecord], list[AlertCandidate]]
    message: Callable[[Mapping[str, Any], str], str]
    state: bool = False  # state rules resolve themselves; event rules stay until acknowledged


RULES: dict[str, Rule] = {
    r.code: r
    for r in [
        Rule(
            code="TG_SEVERE",
            title="Severe hypertriglyceridaemia",
            severity=CRITICAL,
            subject="lab",
            find=rule_triglycerides,
            message=lambda p, u: message_tg(p, u, "TG_SEVERE"),
        ),
        Rule(
            code="TG_VERY_HIGH",
            title="Very high triglycerides",
            severity=WARNING,
            subject="lab",
            find=rule_triglycerides,
            message=lambda p, u: message_tg(p, u, "TG_VERY_HIGH"),
        ),
        Rule(
            code="LIVER_ENZYMES_HIGH",
            title="Liver enzymes > 3 x ULN",
            severity=WARNING,
            subject="lab",
            find=rule_liver,
            message=message_liver,
        ),
        Rule(code="HYS_LAW", title="Hy's law", severity=CRITICAL, subject="lab", find=rule_liver, message=message_hys),
        Rule(
            code="HYPOGLYCEMIA",
            title="Hypoglycaemia",
            severity=CRITICAL,
            subject="lab",
            find=rule_glucose,
            message=lambda p, u: message_glucose(p, u, "HYPOGLYCEMIA"),
        ),
        Rule(
            code="HYPERGLYCEMIA_SEVERE",
            title="Severe hyperglycaemia",
            severity=CRITICAL,
            subject="lab",
            find=rule_glucose,
            message=lambda p, u: message_glucose(p, u, "HYPERGLYCEMIA_SEVERE"),
        ),
        Rule(
            code="LOW_GLUCOSE",
            title="Low glucose",
            severity=WARNING,
            subject="lab",
            find=rule_glucose,
            message=lambda p, u: message_glucose(p, u, "LOW_GLUCOSE"),
        ),
        Rule(
            code="HYPO_RISK_AT_START",
            title="Hypoglycaemia risk at metreleptin start",
            severity=WARNING,
            subject="course",
            find=rule_hypo_risk_at_start,
            message=message_hypo_start,
        ),
        Rule(
            code="METRELEPTIN_DOSE_ABOVE_MAX",
            title="Metreleptin dose above label maximum",
            severity=WARNING,
            subject="dose",
            find=rule_dose_above_max,
            message=message_dose,
        ),
        Rule(
            code="METRELEPTIN_LOSS_OF_EFFECT",
            title="Possible loss of metreleptin effect",
            severity=WARNING,
            subject="course",
            find=rule_loss_of_effect,
            message=message_loss,
        ),
        Rule(
            code="METRELEPTIN_NON_RESPONSE",
            title="No metreleptin response at month 12",
            severity=INFO,
            subject="course",
            find=rule_non_response,
            message=message_non_response,
        ),
        Rule(
            code="TG_AFTER_STOP",
            title="Triglyceride rebound after stopping metreleptin",
            severity=WARNING,
            subject="lab",
            find=rule_tg_after_stop,
            message=message_after_stop,
        ),
        Rule(
            code="WEIGHT_LOSS",
            title="Weight loss on metreleptin",
            severity=WARNING,
            subject="visit",
            find=rule_weight_loss,
            message=message_weight,
        ),
        Rule(
            code="LYMPHOMA_VIGILANCE",
            title="Lymphoma vigilance (AGL on metreleptin)",
            severity=INFO,
            subject="course",
            find=rule_lymphoma_vigilance,
            message=message_lymphoma,
        ),
        Rule(
            code="MONITORING_OVERDUE",
            title="Monitoring overdue",
            severity=INFO,
            subject="patient",
            find=rule_monitoring_overdue,
            message=message_overdue,
            state=True,
        ),
        Rule(
            code="POSSIBLE_UNIT_ERROR",
            title="Possible unit error",
            severity=INFO,
            subject="lab",
            find=rule_unit_error,
            message=message_unit,
        ),
    ]
}

RULE_CHOICES = [(r.code, r.title) for r in RULES.values()]
STATE_RULES = frozenset(code for code, r in RULES.items() if r.state)


def evaluate_alerts(record: PatientRecord) -> list[AlertCandidate]:
    """Every alert the record calls for, once per (rule, subject), in rule-table order."""
    finders: list[Callable[[PatientRecord], list[AlertCandidate]]] = []
    for rule in RULES.values():
        if rule.find not in finders:
            finders.append(rule.find)
    out: dict[tuple[str, str], AlertCandidate] = {}
    for find in finders:
        for c in find(record):
            out.setdefault((c.rule, c.subject_key), c)
    return list(out.values())


def render_alert_message(rule: str, params: Mapping[str, Any], unit_system: str) -> str:
    """The alert's message with its values in ``unit_system`` ("conventional" or "si").

    Unknown rules or incomplete params fall back to the rule title, never an error: the
    message is shown in lists that must not break on one bad row.
    """
    spec = RULES.get(rule)
    if spec is None:
        return rule
    try:
        return spec.message(params or {}, unit_system)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return spec.title
