"""The patient record as plain data (pure: no database).

``clinical.evaluation`` builds a :class:`PatientRecord` from the stored rows; the alert
rules, the trends and the evaluation read it through the helpers here, so what "a course
is active on a day", "on treatment" or "the series of an analyte" means is written once.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Point:
    """One value of a series: a date and a canonical Decimal."""

    on: dt.date
    value: Decimal


def course_active_on(start: dt.date, end: dt.date | None, day: dt.date) -> bool:
    """A course runs from its start to its end date, both included; no end: ongoing."""
    return start <= day and (end is None or end >= day)


@dataclass(frozen=True)
class Lab:
    key: str  # public id of the LabResult
    analyte: str
    canonical: Decimal
    collected_on: dt.date
    uln: Decimal | None = None  # upper reference limit given by the lab, canonical unit


@dataclass(frozen=True)
class Dose:
    key: str  # public id of the DoseChange
    effective_date: dt.date
    dose: Decimal
    dose_unit: str


@dataclass(frozen=True)
class Course:
    key: str  # public id of the TreatmentCourse
    drug: str
    start_date: dt.date
    end_date: dt.date | None = None
    doses: tuple[Dose, ...] = ()

    def is_active_on(self, day: dt.date) -> bool:
        return course_active_on(self.start_date, self.end_date, day)


@dataclass(frozen=True)
class Weight:
    key: str  # public id of the Visit
    on: dt.date
    kg: Decimal


@dataclass(frozen=True)
class PatientRecord:
    sex: str
    subtype: str  # primary subtype code ("" when unknown)
    today: dt.date
    labs: tuple[Lab, ...] = ()  # any order
    courses: tuple[Course, ...] = ()
    weights: tuple[Weight, ...] = ()
    # Every recorded diagnosis subtype, the primary one included (LYMPHOMA_VIGILANCE looks
    # at all of them: RULES.md 5).
    subtypes: tuple[str, ...] = ()

    # The rules and trends ask for the same analytes many times per evaluation: the labs
    # are grouped and sorted once per record (cached outside the frozen fields).
    @functools.cached_property
    def _by_analyte(self) -> dict[str, tuple[tuple[Lab, ...], tuple[Point, ...]]]:
        groups: dict[str, list[Lab]] = {}
        for lab in self.labs:
            groups.setdefault(lab.analyte, []).append(lab)
        out = {}
        for analyte, labs in groups.items():
            labs.sort(key=lambda lab: lab.collected_on)  # stable: equal dates keep their order
            out[analyte] = (tuple(labs), tuple(Point(lab.collected_on, lab.canonical) for lab in labs))
        return out

    def labs_of(self, analyte: str) -> list[Lab]:
        """Labs of one analyte, oldest first (stable for equal dates)."""
        found = self._by_analyte.get(analyte)
        return list(found[0]) if found else []

    def series(self, analyte: str) -> list[Point]:
        """The analyte's values as a series for ``clinical.trends``, oldest first."""
        found = self._by_analyte.get(analyte)
        return list(found[1]) if found else []

    @functools.cached_property
    def _metreleptin(self) -> tuple[Course, ...]:
        return tuple(sorted((c for c in self.courses if c.drug == "metreleptin"), key=lambda c: c.start_date))

    def metreleptin_courses(self) -> list[Course]:
        return list(self._metreleptin)

    def weight_on_or_before(self, day: dt.date) -> Decimal | None:
        before = [w for w in self.weights if w.on <= day]
        return max(before, key=lambda w: w.on).kg if before else None

    def weight_for_dose(self, day: dt.date, fallback_days: int) -> tuple[Decimal | None, dt.date | None, bool]:
        """(kg, weighed on, after the dose?): the latest weight on or before ``day``, else
        the first within ``fallback_days`` after it, else (None, None, False)."""
        before = [w for w in self.weights if w.on <= day and w.kg > 0]
        if before:
            w = max(before, key=lambda w: w.on)
            return w.kg, w.on, False
        after = [w for w in self.weights if day < w.on <= day + dt.timedelta(days=fallback_days) and w.kg > 0]
        if after:
            w = min(after, key=lambda w: w.on)
            return w.kg, w.on, True
        return None, None, False


def on_treatment(labs: Iterable[Lab], course: Course, today: dt.date) -> list[Lab]:
    """The labs collected while the course ran (up to today for an ongoing course)."""
    end = min(course.end_date or today, today)
    return [lab for lab in labs if course.start_date <= lab.collected_on <= end]
