"""Test data built through the same services the app uses."""

from __future__ import annotations

import datetime as dt
import itertools

from registry import services as registry_services
from registry.models import Membership, Site, User

_seq = itertools.count(1)


def make_site(code: str = "", name: str = "", country: str = "FR") -> Site:
    code = code or f"S{next(_seq)}"
    return Site.objects.get_or_create(code=code, defaults={"name": name or f"Site {code}", "country": country})[0]


def make_user(username: str = "", *, site: Site | None = None, role: str = "clinician", **extra) -> User:
    username = username or f"user{next(_seq)}"
    user = User.objects.create_user(username=username, password="correct horse battery staple", **extra)
    if site is not None:
        Membership.objects.create(user=user, site=site, role=role)
    return user


def make_patient(
    *,
    site: Site,
    by=None,
    sex: str = "female",
    mrn: str = "",
    subtype: str = "CGL1",
    birth_date: dt.date = dt.date(1990, 5, 17),
    research_consent: bool | None = True,
    **extra,
):
    n = next(_seq)
    return registry_services.patient_register(
        site=site,
        sex=sex,
        birth_date=birth_date,
        family_name=extra.pop("family_name", f"Testperson{n}"),
        given_name=extra.pop("given_name", "Alex"),
        mrn=mrn or f"MRN{n:05d}",
        by=by,
        subtype=subtype,
        diagnosis_date=extra.pop("diagnosis_date", dt.date(2015, 1, 1)),
        research_consent=research_consent,
        consent_version="v1" if research_consent is not None else "",
        consented_on=dt.date(2016, 1, 1) if research_consent is not None else None,
        **extra,
    )


# --- clinical records, through the clinical services ----------------------------------

DAY = dt.date(2024, 1, 1)


def make_lab(
    patient,
    value="150",
    *,
    analyte: str = "triglycerides",
    unit: str = "",
    collected_on: dt.date = DAY,
    by=None,
    **extra,
):
    """A lab result; the unit defaults to the analyte's conventional display unit."""
    from clinical import catalogue
    from clinical import services as clinical_services

    unit = unit or catalogue.ANALYTES[analyte].display_unit(catalogue.CONVENTIONAL).unit
    return clinical_services.lab_result_record(
        patient=patient, analyte=analyte, value=value, unit=unit, collected_on=collected_on, by=by, **extra
    )


def make_visit(patient, *, visit_date: dt.date = DAY, by=None, **fields):
    """A visit; ``fields`` are visit fields, ``labs`` / ``skinfolds`` / ``phenotypes`` too."""
    from clinical import services as clinical_services

    return clinical_services.visit_record(patient=patient, visit_date=visit_date, by=by, **fields)


def make_course(
    patient,
    *,
    drug: str = "metreleptin",
    start_date: dt.date = DAY,
    dose="5",
    dose_unit: str = "",
    by=None,
    **extra,
):
    """A treatment course with its first dose; the unit defaults to the drug's first one."""
    from clinical import catalogue
    from clinical import services as clinical_services

    return clinical_services.course_start(
        patient=patient,
        drug=drug,
        start_date=start_date,
        dose=dose,
        dose_unit=dose_unit or catalogue.DRUGS[drug].units[0],
        by=by,
        **extra,
    )
