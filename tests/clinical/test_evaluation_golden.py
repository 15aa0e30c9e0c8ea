"""The evaluation's outputs on a seeded cohort, pinned: every Alert (rule, subject, status,
severity, message, params, evidence, acknowledgement, withdrawal, which step created and
last wrote it), TrendSnapshot and CourseResponse after each step of a day in the registry
must equal tests/clinical/golden/evaluation.json, which the evaluation as it stood before
the recompute was made incremental produced.

Steps: first evaluation; again on unchanged data (nothing may change or be written);
clinicians acknowledge, correct, delete and add; evaluation of the changed record; the
same data 200 days later; and each site's own date (``today`` None) on a later day.

To write the file again after a deliberate change of behaviour, run this test with
GOLDEN_WRITE=1 (it then fails, so that a run that writes is never a run that passes) and
review the diff.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
import time_machine

from clinical.evaluation import patients_evaluate
from tests.clinical import golden_cohort
from tests.factories import make_user

pytestmark = pytest.mark.django_db

GOLDEN = Path(__file__).parent / "golden" / "evaluation.json"
UTC = dt.UTC


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# (step, instant it runs at, the evaluation date passed; None: each site's own date)
STEPS = [
    ("first", _at("2025-06-01T10:00"), golden_cohort.TODAY),
    ("again", _at("2025-06-01T11:00"), golden_cohort.TODAY),
    ("mutate", _at("2025-06-01T12:00"), None),
    ("changed", _at("2025-06-01T13:00"), golden_cohort.TODAY),
    ("later", _at("2025-12-18T08:00"), golden_cohort.TODAY + dt.timedelta(days=200)),
    ("site-days", _at("2026-03-01T11:30"), None),
]
CHUNK = 25


def _evaluate(ids: list[int], today: dt.date | None) -> None:
    for i in range(0, len(ids), CHUNK):
        patients_evaluate(patient_ids=ids[i : i + CHUNK], today=today)


def run_steps() -> dict[str, dict]:
    with time_machine.travel(_at("2025-06-01T09:00"), tick=True):
        ids = golden_cohort.build()
        user = make_user("golden_clinician")
    seen: list[tuple[str, dt.datetime]] = []
    out = {}
    for name, instant, today in STEPS:
        seen.append((name, instant))
        with time_machine.travel(instant, tick=True):
            if name == "mutate":
                golden_cohort.mutate(by=user)
            else:
                _evaluate(ids, today)
        out[name] = golden_cohort.outputs(seen)
    return out


def as_stored(steps: dict[str, dict]) -> dict[str, dict]:
    """The first evaluation in full; each later evaluation as the rows it removed and added
    (the file stays small and a review reads what each step changed)."""
    out: dict[str, dict] = {}
    previous = None
    for name, state in steps.items():
        if name in ("again", "mutate"):
            continue
        if previous is None:
            out[name] = state
        else:
            out[name] = {
                kind: {
                    "removed": [row for row in previous[kind] if row not in rows],
                    "added": [row for row in rows if row not in previous[kind]],
                }
                for kind, rows in state.items()
            }
        previous = state
    return out


def test_outputs_equal_the_golden_file():
    steps = json.loads(json.dumps(run_steps()))  # as JSON stores it (tuples -> lists)
    # Evaluating unchanged data the same day changes and writes nothing.
    assert steps["again"] == steps["first"]
    got = as_stored(steps)
    if os.environ.get("GOLDEN_WRITE"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, separators=(",", ":"), sort_keys=True).replace("],[", "],\n[") + "\n")
        pytest.fail(f"{GOLDEN} written; review the diff and run again without GOLDEN_WRITE")
    want = json.loads(GOLDEN.read_text())
    assert sorted(got) == sorted(want)
    for step in want:
        for kind in want[step]:
            # row by row, so that a failure shows the one row that differs
            g, w = got[step][kind], want[step][kind]
            if isinstance(w, dict):
                for part in ("removed", "added"):
                    assert len(g[part]) == len(w[part]), (step, kind, part)
                    for a, b in zip(g[part], w[part], strict=True):
                        assert a == b, (step, kind, part)
            else:
                assert len(g) == len(w), (step, kind)
                for a, b in zip(g, w, strict=True):
                    assert a == b, (step, kind)


def test_the_cohort_reaches_every_rule_and_status():
    """The golden cohort is only worth its file if it exercises every rule and every
    lifecycle status (a change of the generator that loses one fails here)."""
    from clinical.alerts import RULES

    want = json.loads(GOLDEN.read_text())

    def rows(kind):
        for step in want.values():
            yield from step[kind] if isinstance(step[kind], list) else step[kind]["added"]

    rules = {a[1] for a in rows("alerts")}
    statuses = {a[5] for a in rows("alerts")}
    classes = {r[2] for r in rows("responses")}
    assert rules == set(RULES)
    assert statuses == {"open", "acknowledged", "resolved", "withdrawn"}
    assert classes == {"strong_responder", "responder", "non_responder", "insufficient_data"}
    assert any(r[5] for r in want["first"]["responses"]) and not all(r[5] for r in want["first"]["responses"])
