"""The synthetic demo cohort: fixed data (``cohort``), the plan types (``plans``)
and the generator (``generator``);
``manage.py seed_demo`` writes the plans through the services."""

from __future__ import annotations

from registry.demo.cohort import (
    CLINICIAN_OF_SITE,
    DEMO_PASSWORD,
    HISTORY_NOTE,
    HISTORY_REVIEWED_AFTER_DAYS,
    SITES,
    USERS,
    DemoSite,
    DemoUser,
)
from registry.demo.generator import cohort_plan, patient_plan
from registry.demo.plans import CoursePlan, GeneticPlan, LabPlan, PatientPlan, VisitPlan

__all__ = [
    "CLINICIAN_OF_SITE",
    "DEMO_PASSWORD",
    "HISTORY_NOTE",
    "HISTORY_REVIEWED_AFTER_DAYS",
    "SITES",
    "USERS",
    "CoursePlan",
    "DemoSite",
    "DemoUser",
    "GeneticPlan",
    "LabPlan",
    "PatientPlan",
    "VisitPlan",
    "cohort_plan",
    "patient_plan",
]
