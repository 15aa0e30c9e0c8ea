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
