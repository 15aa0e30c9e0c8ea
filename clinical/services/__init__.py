"""Writes to the clinical record: the one path for forms, the API, imports and the demo.

Every function validates (raising ``ValidationError`` with field-keyed messages), writes
in one transaction with its audit row, marks the patient for evaluation in that same
transaction (:mod:`clinical.services.outbox`) and enqueues the evaluation on commit.
One module per record: :mod:`.labs`, :mod:`.visits`, :mod:`.treatments`, :mod:`.alerts`,
:mod:`.lab_import` (import that module itself: it builds on ``clinical.imports``, which
validates rows with :func:`lab_validate` from here). What every write checks (dates, reason, version, acting user) is the
shared :mod:`registry.writekit`.
"""

from __future__ import annotations

from clinical.services.alerts import ACK_FIELDS, alert_acknowledge, alert_reopen
from clinical.services.course_corrections import course_delete, course_update, dose_delete, dose_update
from clinical.services.labs import (
    CANONICAL_QUANTUM,
    LAB_EDITABLE,
    VALUE_DECIMALS,
    UnitSuspect,
    ValidatedLab,
    lab_fields,
    lab_result_delete,
    lab_result_record,
    lab_result_update,
    lab_validate,
)
from clinical.services.outbox import (
    enqueue_evaluation,
    enqueue_evaluations,
    evaluations_batched,
    patient_mark_for_evaluation,
    patients_mark_for_evaluation,
)
from clinical.services.treatments import (
    course_start,
    course_stop,
    dose_change_record,
    dose_validate,
    label_warning,
    latest_weight_kg,
    weight_for_dose_kg,
)
from clinical.services.visits import VISIT_FIELDS, LabEntry, visit_record, visit_update, visit_validate
from registry.writekit import EARLIEST_DATE, ConflictError

__all__ = [
    "ACK_FIELDS",
    "CANONICAL_QUANTUM",
    "EARLIEST_DATE",
    "LAB_EDITABLE",
    "VALUE_DECIMALS",
    "VISIT_FIELDS",
    "ConflictError",
    "LabEntry",
    "UnitSuspect",
    "ValidatedLab",
    "alert_acknowledge",
    "alert_reopen",
    "course_delete",
    "course_start",
    "course_update",
    "course_stop",
    "dose_change_record",
    "dose_delete",
    "dose_update",
    "dose_validate",
    "enqueue_evaluation",
    "enqueue_evaluations",
    "evaluations_batched",
    "lab_fields",
    "lab_result_delete",
    "lab_result_record",
    "lab_result_update",
    "lab_validate",
    "label_warning",
    "latest_weight_kg",
    "weight_for_dose_kg",
    "patient_mark_for_evaluation",
    "patients_mark_for_evaluation",
    "visit_record",
    "visit_update",
    "visit_validate",
]
