"""What the demo generator produces: plain data, one plan per patient, written through
the services by ``manage.py seed_demo``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class LabPlan:
    analyte: str
    value: Decimal
    unit: str
    fasting: bool | None = None


@dataclass
class VisitPlan:
    day: dt.date
    fields: dict
    labs: list[LabPlan] = field(default_factory=list)
    skinfolds: list[tuple[str, Decimal]] = field(default_factory=list)
    phenotypes: list[tuple[str, bool]] = field(default_factory=list)


@dataclass
class CoursePlan:
    drug: str
    start: dt.date
    dose: Decimal
    unit: str
    changes: list[tuple[dt.date, Decimal]] = field(default_factory=list)
    end: dt.date | None = None
    stop_reason: str = ""


@dataclass
class GeneticPlan:
    gene: str
    transcript: str
    hgvs_c: str
    hgvs_p: str
    zygosity: str
    acmg_class: str


@dataclass
class PatientPlan:
    index: int
    site: str
    mrn: str
    family_name: str
    given_name: str
    sex: str
    birth_date: dt.date
    subtype: str
    onset_date: dt.date
    diagnosis_date: dt.date
    diagnosis_basis: str
    consent: bool
    consent_version: str
    consented_on: dt.date
    genetics: list[GeneticPlan]
    visits: list[VisitPlan]
    courses: list[CoursePlan]
    on_metreleptin: bool = False
    responder: bool | None = None
