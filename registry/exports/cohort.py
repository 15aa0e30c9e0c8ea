"""The export cohort: which patients, under which pseudonym, shift and anchor.

Patients come only from ``registry.access.export_patients_for_user`` (the user's sites,
research consent in force at export time), filtered by site and subtype. PatientIdentity
is never read. The cohort is the one thing held in memory for a whole export (a few
hundred bytes per patient); the clinical rows stream.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Min, OuterRef, Subquery

from clinical import catalogue
from clinical.models import LabResult, Visit
from registry import access
from registry.exports import deid, smallcell
from registry.exports.tables import RELATIVE
from registry.models import Diagnosis, Site


@dataclass(frozen=True)
class ExportOptions:
    format: str
    project: str = "default"
    sites: tuple[str, ...] = ()
    subtypes: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    dates: str = "shifted"
    k: int = smallcell.DEFAULT_K

    def as_filters(self) -> dict:
        return {
            "project": self.project,
            "sites": list(self.sites),
            "subtypes": list(self.subtypes),
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "dates": self.dates,
            "k": self.k,
        }


@dataclass
class CohortPatient:
    id: int
    pid: str
    shift: int
    anchor: dt.date | None
    anchor_kind: str
    sex: str
    birth_year: int | None
    age: str | None
    birth_decade: str
    vital_status: str
    subtype: str
    country: str
    generalised: bool


@dataclass
class Cohort:
    patients: list[CohortPatient]
    report: smallcell.Report
    today: dt.date
    excluded_sites: list[str] = field(default_factory=list)

    def params(self) -> dict[str, str]:
        """The cohort as PostgreSQL array literals. Built once: adapting tens of thousands
        of Python values for every statement of an export would cost more than the query."""
        ps = self.patients
        return {
            "c_ids": array_literal(p.id for p in ps),
            "c_pids": array_literal(p.pid for p in ps),
            "c_shift": array_literal(p.shift for p in ps),
            "c_anchor": array_literal(p.anchor for p in ps),
            "c_subtype": array_literal(p.subtype for p in ps),
            "c_gen": array_literal(p.generalised for p in ps),
            "c_ord": array_literal(range(len(ps))),
        }


def _element(value) -> str:
    if value is None:
        return "NULL"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def array_literal(values) -> str:
    """A PostgreSQL array literal (``{1,2,NULL}``, ``{"a","b"}``) for a ``%s::type[]`` cast."""
    return "{" + ",".join(_element(v) for v in values) + "}"


def check_filters(user, options: ExportOptions) -> list[Site]:
    """Site codes must be sites the user may export; subtype codes must exist. Errors name
    the offending values, the way a form would."""
    errors: dict[str, list[str]] = {}
    allowed = {s.code: s for s in access.export_sites_for_user(user)}
    if not allowed:
        errors["sites"] = ["Your account has no site whose data you may export."]
    unknown = [code for code in options.sites if code not in allowed]
    if unknown:
        errors["sites"] = [f"No such site, or not one of yours: {', '.join(unknown)}."]
    bad = [code for code in options.subtypes if code not in catalogue.SUBTYPES]
    if bad:
        errors["subtypes"] = [f"Unknown subtype: {', '.join(bad)}."]
    if options.date_from and options.date_to and options.date_from > options.date_to:
        errors["to"] = ["The end date is before the start date."]
    if options.dates not in ("shifted", RELATIVE):
        errors["dates"] = ["Choose shifted or relative."]
    if options.k < 2 or options.k > 100:
        errors["k"] = ["k is between 2 and 100."]
    try:
        deid.check_project_name(options.project)
    except ValueError as exc:
        errors["project"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    return [allowed[c] for c in options.sites]


def _group_of(subtype: str) -> str:
    info = catalogue.SUBTYPES.get(subtype)
    return info.group if info else (subtype or "unknown")


def cohort_build(*, user, options: ExportOptions, key: bytes, using: str, today: dt.date) -> Cohort:
    check_filters(user, options)
    qs = access.export_patients_for_user(user, site_codes=options.sites).using(using)
    if options.subtypes:
        qs = qs.filter(primary_subtype__in=options.subtypes)
    first_dx = Diagnosis.objects.filter(patient=OuterRef("pk")).values("patient").annotate(m=Min("diagnosis_date"))
    first_visit = Visit.objects.filter(patient=OuterRef("pk")).values("patient").annotate(m=Min("visit_date"))
    first_lab = LabResult.objects.filter(patient=OuterRef("pk")).values("patient").annotate(m=Min("collected_on"))
    rows = (
        qs.annotate(
            dx=Subquery(first_dx.values("m")[:1]),
            fv=Subquery(first_visit.values("m")[:1]),
            fl=Subquery(first_lab.values("m")[:1]),
        )
        .order_by("pk")
        .values_list(
            "pk", "public_id", "sex", "birth_year", "vital_status", "primary_subtype", "home_site__country",
            "dx", "fv", "fl",
        )
    )  # fmt: skip
    raw = {}
    for pk, public_id, sex, birth_year, vital, subtype, country, dx, fv, fl in rows.iterator(chunk_size=2000):
        anchor, kind = next(
            ((d, k) for d, k in ((dx, "diagnosis"), (fv, "first_visit"), (fl, "first_lab")) if d), (None, "")
        )
        raw[pk] = (public_id, sex, birth_year, vital, subtype or "unknown", country, anchor, kind)
    records = (
        (
            pk,
            smallcell.QuasiIdentifiers(sex, deid.birth_decade(by, today), subtype, country),
        )
        for pk, (_u, sex, by, _v, subtype, country, _a, _k) in raw.items()
    )
    decisions, report = smallcell.protect(records, k=options.k, group_of=_group_of)
    patients = []
    for pk, (public_id, sex, by, vital, subtype, _country, anchor, kind) in raw.items():
        decision = decisions[pk]
        if decision.suppressed:
            continue
        year = None if decision.decade_generalised else deid.export_birth_year(by, today)
        patients.append(
            CohortPatient(
                id=pk,
                pid=deid.pseudonym(key, public_id),
                shift=deid.date_shift_days(key, public_id),
                anchor=anchor,
                anchor_kind=kind,
                sex=sex,
                birth_year=year,
                age=None if decision.decade_generalised else deid.export_age(by, today),
                birth_decade=decision.qi.birth_decade,
                vital_status=vital,
                subtype=decision.qi.subtype if decision.subtype_generalised else subtype,
                country=decision.qi.country,
                generalised=decision.level > 0,
            )
        )
    patients.sort(key=lambda p: p.pid)
    return Cohort(patients=patients, report=report, today=today)


def patient_row(p: CohortPatient, dates: str) -> tuple:
    """The patients table row (PATIENT_COLUMNS order)."""
    return (
        p.pid, p.sex, p.birth_year, p.age, p.birth_decade, p.vital_status, p.subtype, p.country,
        p.anchor_kind if dates == RELATIVE else "", p.generalised,
    )  # fmt: skip
