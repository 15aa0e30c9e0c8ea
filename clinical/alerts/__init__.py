"""The clinical alert rules (RULES.md section 2): a rule table plus pure functions.

Nothing here touches the database. ``clinical.evaluation`` builds a
:class:`~clinical.records.PatientRecord` from the stored rows, calls
:func:`evaluate_alerts` and upserts the returned :class:`AlertCandidate` rows;
:func:`render_alert_message` writes a stored alert's text in any viewer's unit system.

:mod:`.rules` finds candidates, :mod:`.messages` words them, :mod:`.table` ties each rule
code to its severity, finder and message.
"""

from __future__ import annotations

from clinical.alerts.rules import PATIENT_SUBJECT, AlertCandidate, upper_limit
from clinical.alerts.table import (
    CRITICAL,
    INFO,
    RULE_CHOICES,
    RULES,
    SEVERITY_RANK,
    STATE_RULES,
    WARNING,
    Rule,
    evaluate_alerts,
    render_alert_message,
)

__all__ = [
    "CRITICAL",
    "INFO",
    "PATIENT_SUBJECT",
    "RULES",
    "RULE_CHOICES",
    "SEVERITY_RANK",
    "STATE_RULES",
    "WARNING",
    "AlertCandidate",
    "Rule",
    "evaluate_alerts",
    "render_alert_message",
    "upper_limit",
]
