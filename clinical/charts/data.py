"""Plain data the dashboard figures are drawn from (no ORM objects, no database).

Selectors in ``clinical.selectors.dashboard`` fill these; the figure functions in this
package read only them, so every figure can be built and tested without a database.
Lab values are canonical Decimals; the figure functions convert to the unit system asked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class LabPoint:
    on: dt.date
    canonical: Decimal
    fasting: bool | None = None


@dataclass(frozen=True)
class WeightPoint:
    on: dt.date
    kg: Decimal
    bmi: Decimal | None = None


@dataclass(frozen=True)
class DoseStep:
    on: dt.date
    dose: Decimal
    unit: str
    per_kg: Decimal | None = None  # dose per kg at the weight of that day
    per_kg_unit: str = ""


@dataclass(frozen=True)
class CourseSpan:
    drug: str
    name: str
    start: dt.date
    end: dt.date | None
    doses: tuple[DoseStep, ...] = ()

    @property
    def is_metreleptin(self) -> bool:
        return self.drug == "metreleptin"


@dataclass(frozen=True)
class AlertMark:
    on: dt.date
    severity: str
    rule: str
    messages: dict[str, str]  # unit system -> message in that system


@dataclass(frozen=True)
class MarkedPoint:
    """A baseline (month 0) or month-m value of one course."""

    month: int
    on: dt.date
    canonical: Decimal
    change: Decimal | None = None  # canonical difference from baseline
    percent_change: Decimal | None = None


@dataclass(frozen=True)
class AnalyteResponse:
    """One analyte's course trend: baseline, month 3/6/12, nadir, slope (canonical)."""

    analyte: str
    baseline: MarkedPoint | None
    months: dict[int, MarkedPoint]
    nadir: MarkedPoint | None
    slope_per_year: float | None
    n_on_treatment: int


@dataclass(frozen=True)
class CourseSummary:
    """A metreleptin course with its month-12 response (RULES.md section 3)."""

    start: dt.date
    end: dt.date | None
    response_class: str
    provisional: bool
    hba1c_change: Decimal | None
    tg_percent_change: Decimal | None
    analytes: dict[str, AnalyteResponse] = field(default_factory=dict)

    @property
    def no_baseline(self) -> list[str]:
        """The analytes (of HbA1c, triglycerides) that have no baseline."""
        return [code for code, a in self.analytes.items() if a.baseline is None]


@dataclass
class PatientSeries:
    """Everything the patient dashboard plots."""

    label: str  # registry code
    sex: str
    today: dt.date
    labs: dict[str, list[LabPoint]] = field(default_factory=dict)
    weights: list[WeightPoint] = field(default_factory=list)
    courses: list[CourseSpan] = field(default_factory=list)
    alerts: list[AlertMark] = field(default_factory=list)
    summaries: list[CourseSummary] = field(default_factory=list)
    uln: dict[str, Decimal] = field(default_factory=dict)  # analyte -> canonical ULN


# --- cohort ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponsePoint:
    """One treated patient's month-12 response (latest metreleptin course)."""

    label: str  # registry code; never shown to researchers
    response_class: str
    provisional: bool
    tg_percent_change: float | None
    hba1c_change: float | None  # %-points (canonical)


@dataclass
class CohortData:
    n_patients: int
    site_subtype: dict[tuple[str, str], int] = field(default_factory=dict)  # (site, subtype) -> n
    responses: list[ResponsePoint] = field(default_factory=list)
    # month (first day) -> severity -> open alerts at the end of that month
    open_alerts: dict[dt.date, dict[str, int]] = field(default_factory=dict)
    computed_oldest: dt.datetime | None = None
    computed_newest: dt.datetime | None = None
    not_evaluated: int = 0  # patients awaiting evaluation or never evaluated
