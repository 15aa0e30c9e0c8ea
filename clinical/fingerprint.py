"""What an evaluation's outputs depend on, as one key per patient.

The alerts, trend snapshots and course responses of a patient are a function of three
things: the code of the rules (alert finders and messages, trends, the catalogue, the
formatter, the alert lifecycle), the evaluation date (each patient's "today": overdue
monitoring, slopes over the last two years, provisional responses) and the stored inputs
(the patient's sex and subtypes, labs, courses, doses, weights). :func:`patient_key`
joins a version of the first, the second, and a digest of the third that PostgreSQL
computes next to the rows (:data:`PATIENTS_SQL`, the chunk's one read of its patients). The
evaluation stores the key when it clears the patient's flag; the next evaluation that
computes the same key skips the rules and writes nothing but the flag.

Any change of code in :data:`RULE_MODULES` changes :data:`rules_version`, so a release
that changes a rule or a message re-evaluates everyone on the next recompute without a
version number to remember. Other databases (SQLite, the demo) get no digest: every
evaluation there runs in full.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.util
import os

# The modules whose code decides what an evaluation writes.
RULE_MODULES = (
    "clinical.alerts",
    "clinical.alerts.messages",
    "clinical.alerts.rules",
    "clinical.alerts.table",
    "clinical.alert_lifecycle",
    "clinical.catalogue",
    "clinical.dates",
    "clinical.evaluation",
    "clinical.evaluation_store",
    "clinical.fingerprint",
    "clinical.formatting",
    "clinical.records",
    "clinical.trends",
)


@functools.cache
def rules_version() -> str:
    """A digest of the source of :data:`RULE_MODULES` (12 hex digits)."""
    h = hashlib.sha256()
    for name in RULE_MODULES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        try:
            with open(origin or "", "rb") as fh:
                h.update(name.encode() + b"\0" + fh.read() + b"\0")
        except OSError:
            # Without its source a module cannot be told apart from another release of
            # it: a key nobody else can produce, so nothing is ever skipped.
            h.update(os.urandom(16))
    return h.hexdigest()[:12]


def patient_key(digest: str, today: dt.date) -> str:
    """The key an evaluation on ``today`` of inputs with ``digest`` stores."""
    return f"{rules_version()}/{today.isoformat()}/{digest}"


# The patients of a chunk (PostgreSQL): what the evaluation reads of each, the key stored
# by their last evaluation, a digest of every input the evaluation reads, and their number
# of lab results. Each input row is rendered as a PostgreSQL record (unambiguous quoting
# of text, NULL distinct from ""), in the order the evaluation reads it, so that any
# insert, update or delete of an input, or a change of order among equal dates, changes
# the digest.
PATIENTS_SQL = """
SELECT p.id, p.sex, p.primary_subtype, p.dirty_since, s.time_zone, p.evaluation_key, md5(ROW(
    p.sex, p.primary_subtype,
    ARRAY(SELECT d.subtype FROM registry_diagnosis d WHERE d.patient_id = p.id ORDER BY d.id),
    ARRAY(SELECT ROW(l.id, l.public_id, l.analyte, l.canonical_value, l.collected_on, l.reference_high, l.unit)
          FROM clinical_labresult l WHERE l.patient_id = p.id ORDER BY l.collected_on, l.id),
    ARRAY(SELECT ROW(c.id, c.public_id, c.drug, c.start_date, c.end_date)
          FROM clinical_treatmentcourse c WHERE c.patient_id = p.id ORDER BY c.start_date, c.id),
    ARRAY(SELECT ROW(x.id, x.public_id, x.course_id, x.effective_date, x.dose, x.dose_unit)
          FROM clinical_dosechange x JOIN clinical_treatmentcourse c ON c.id = x.course_id
          WHERE c.patient_id = p.id ORDER BY x.effective_date, x.id),
    ARRAY(SELECT ROW(v.id, v.public_id, v.visit_date, v.weight_kg)
          FROM clinical_visit v WHERE v.patient_id = p.id AND v.weight_kg IS NOT NULL
          ORDER BY v.visit_date, v.id)
)::text),
(SELECT count(*) FROM clinical_labresult l WHERE l.patient_id = p.id)
FROM registry_patient p JOIN registry_site s ON s.id = p.home_site_id
WHERE p.id = ANY(%s::integer[]) ORDER BY p.id
"""
PATIENT_COLUMNS = (
    "id",
    "sex",
    "primary_subtype",
    "dirty_since",
    "home_site__time_zone",
    "evaluation_key",
    "digest",
    "labs",
)
