"""A seeded cohort for the evaluation's golden test, and the evaluation's outputs as plain,
comparable data.

The cohort is written straight to the tables (no services, no audit rows) from one seeded
random stream, with every public id drawn from it too, so subject keys and messages are
the same on every run. It is built to reach every alert rule and the boundaries the rules
and trends care about: values exactly at thresholds, several results on one day, unit
slips, lab-given upper limits, results dated after "today", courses that overlap, stop and
restart, doses above the label maximum with and without a weight, weight falls within and
outside the window, secondary AGL diagnoses, sites in far-apart time zones.

:func:`outputs` reads every Alert, TrendSnapshot and CourseResponse (and the patients'
evaluation flags) with ids replaced by public ids or registry codes and timestamps by the
step that wrote them, so two runs compare equal exactly when the evaluation did the same.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

from django.db.models import F

from clinical import catalogue
from clinical.models import Alert, CourseResponse, DoseChange, LabResult, Source, TreatmentCourse, TrendSnapshot, Visit
from registry.models import Diagnosis, Patient, Site

TODAY = dt.date(2025, 6, 1)

SITES = [
    ("GOLD-NZ", "Pacific/Auckland"),
    ("GOLD-US", "America/Los_Angeles"),
    ("GOLD-UTC", "UTC"),
]
SUBTYPES = ["", "AGL", "CGL1", "CGL2", "FPLD2", "FPLD3", "APL", "HIV_LD", "AGL", "MADA", "NOT_IN_CATALOGUE"]
SEXES = ["female", "male", "female", "male", "other", "unknown"]

# analyte, unit, low, high, decimals, thresholds hit exactly sometimes (in that unit)
LABS = [
    ("triglycerides", "mg/dL", 40, 2600, 0, ["500", "1000", "200"]),
    ("triglycerides", "mmol/L", 0.4, 30, 2, ["5.645", "11.29"]),
    ("glucose", "mg/dL", 30, 700, 0, ["54", "70", "600"]),
    ("glucose", "mmol/L", 1.5, 38, 1, ["3.0", "3.9", "33.3"]),
    ("hba1c", "%", 4.5, 13, 1, []),
    ("hba1c", "mmol/mol", 25, 120, 0, []),
    ("alt", "U/L", 5, 260, 0, ["99", "123", "124"]),
    ("ast", "U/L", 5, 240, 0, ["96", "120", "121"]),
    ("bilirubin_total", "umol/L", 3, 80, 0, ["42", "43"]),
    ("leptin", "ng/mL", 0.1, 30, 1, []),
    ("ggt", "U/L", 5, 300, 0, []),
]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _value(rng: random.Random, low: float, high: float, decimals: int, exact: list[str]) -> Decimal:
    if exact and rng.random() < 0.08:
        return Decimal(rng.choice(exact))
    q = Decimal(1).scaleb(-decimals)
    if rng.random() < 0.7:  # mostly unremarkable values, some anywhere in the range
        high = low + (high - low) * 0.2
    return Decimal(str(rng.uniform(low, high))).quantize(q)


def _lab(rng, patient_id, on, analyte, unit, value, uln=None) -> LabResult:
    canonical = catalogue.ANALYTES[analyte].to_canonical(value, unit).quantize(Decimal("1e-10"))
    return LabResult(
        public_id=_uuid(rng),
        patient_id=patient_id,
        analyte=analyte,
        value=value,
        unit=unit,
        canonical_value=canonical,
        collected_on=on,
        reference_high=uln,
        source=Source.DEMO,
    )


def build(*, patients: int = 60, seed: int = 14, today: dt.date = TODAY) -> list[int]:
    """Write the cohort; returns the patient ids in creation order."""
    rng = random.Random(seed)
    sites = [
        Site.objects.get_or_create(code=code, defaults={"name": code, "country": "FR", "time_zone": tz})[0]
        for code, tz in SITES
    ]
    ids = []
    for i in range(patients):
        site = sites[i % len(sites)]
        primary = rng.choice(SUBTYPES[:-1])
        p = Patient.objects.create(
            public_id=_uuid(rng),
            registry_code=f"GOLD-{i:04d}",
            home_site=site,
            sex=rng.choice(SEXES),
            birth_year=rng.randint(1950, 2015),
            primary_subtype=primary,
        )
        ids.append(p.pk)
        for code in rng.sample(SUBTYPES, rng.choice([0, 0, 1, 2])):
            if code != "NOT_IN_CATALOGUE":
                Diagnosis.objects.create(public_id=_uuid(rng), patient=p, subtype=code)
        first = today - dt.timedelta(days=rng.randint(60, 3000))
        # Visits: mostly weighed, some steep falls (>= 10 %) within 180 days.
        visits, day, kg = [], first, Decimal(rng.randint(32, 95))
        for _ in range(rng.choice([0, 1, 3, 6, 10])):
            weighed = rng.random() < 0.85
            visits.append(
                Visit(
                    public_id=_uuid(rng),
                    patient=p,
                    site=site,
                    visit_date=day,
                    weight_kg=kg if weighed else None,
                    source=Source.DEMO,
                )
            )
            day += dt.timedelta(days=rng.choice([0, 30, 90, 170, 181, 200]))
            step = rng.choice(["-0.12", "-0.10", "-0.05", "0", "0.04", "0.15"])
            kg = max(Decimal("20"), (kg * (1 + Decimal(step))).quantize(Decimal("0.01")))
        Visit.objects.bulk_create(visits)
        # Courses: metreleptin (sometimes stopped, sometimes restarted), insulin or a
        # sulfonylurea that may overlap its start, metformin.
        courses = []
        for _ in range(rng.choice([0, 1, 1, 1, 2])):
            start = first + dt.timedelta(days=rng.randint(-100, 900))
            end = start + dt.timedelta(days=rng.randint(30, 800)) if rng.random() < 0.4 else None
            courses.append(
                TreatmentCourse(
                    public_id=_uuid(rng),
                    patient=p,
                    drug="metreleptin",
                    start_date=start,
                    end_date=end,
                    stop_reason="other" if end else "",
                    source=Source.DEMO,
                )
            )
        for drug in rng.sample(["insulin", "sulfonylurea", "metformin"], rng.choice([0, 1, 2])):
            start = first + dt.timedelta(days=rng.randint(-200, 700))
            end = start + dt.timedelta(days=rng.randint(10, 900)) if rng.random() < 0.5 else None
            courses.append(
                TreatmentCourse(
                    public_id=_uuid(rng),
                    patient=p,
                    drug=drug,
                    start_date=start,
                    end_date=end,
                    stop_reason="other" if end else "",
                    source=Source.DEMO,
                )
            )
        TreatmentCourse.objects.bulk_create(courses)
        doses = []
        for c in courses:
            if c.drug != "metreleptin":
                continue
            on = c.start_date
            for _ in range(rng.choice([0, 1, 2, 3])):
                unit = "mg/day" if rng.random() < 0.9 else "mg/kg/day"
                dose = Decimal(str(rng.choice([2.5, 4.5, 5, 5.2, 7.5, 10, 10.5, 12])))
                doses.append(DoseChange(public_id=_uuid(rng), course=c, effective_date=on, dose=dose, dose_unit=unit))
                on += dt.timedelta(days=rng.randint(20, 300))
        DoseChange.objects.bulk_create(doses)
        # Labs: a few analytes per patient, some on the same day, some unit slips, a few
        # with the lab's own upper limit, a few dated just after "today".
        labs = []
        kinds = rng.sample(LABS, rng.randint(1, len(LABS)))
        for analyte, unit, low, high, decimals, exact in kinds:
            on = first + dt.timedelta(days=rng.randint(-120, 60))
            for _ in range(rng.choice([1, 2, 4, 7, 12])):
                value = _value(rng, low, high, decimals, exact)
                if rng.random() < 0.04:
                    value = (value * 1000).quantize(Decimal(1).scaleb(-decimals))  # a unit slip
                uln = None
                if analyte in ("alt", "ast", "bilirubin_total") and rng.random() < 0.3:
                    uln = Decimal(rng.choice(["30", "35", "40", "17", "0"]))
                labs.append(_lab(rng, p.pk, on, analyte, unit, value, uln))
                on += dt.timedelta(days=rng.choice([0, 3, 7, 30, 91, 180, 365]))
            if rng.random() < 0.05:
                labs.append(_lab(rng, p.pk, today + dt.timedelta(days=1), analyte, unit, value))
        # Around each metreleptin start: a baseline and month 3/6/12 values of HbA1c and
        # triglycerides that fall, stay or rise (the response classes and month values).
        for c in courses:
            if c.drug != "metreleptin" or rng.random() < 0.2:
                continue
            for analyte, unit, base in (("hba1c", "%", 9.0), ("triglycerides", "mg/dL", 600)):
                if rng.random() < 0.15:
                    continue
                change = rng.choice([-0.6, -0.35, -0.2, -0.1, 0.0, 0.15])
                days = [-rng.randint(0, 100), 91 + rng.randint(-20, 20), 183 + rng.randint(-30, 30)]
                days.append(365 + rng.randint(-70, 70))
                for k, offset in enumerate(days):
                    factor = 1 + change * min(k, 2) / 2
                    value = Decimal(str(round(base * factor * rng.uniform(0.97, 1.03), 1)))
                    labs.append(_lab(rng, p.pk, c.start_date + dt.timedelta(days=offset), analyte, unit, value))
        if rng.random() < 0.2:  # a liver injury: enzymes and bilirubin within days (Hy's law)
            on = first + dt.timedelta(days=rng.randint(0, 500))
            enzyme = rng.choice(["alt", "ast"])
            labs.append(_lab(rng, p.pk, on, enzyme, "U/L", Decimal(rng.randint(90, 320))))
            labs.append(
                _lab(rng, p.pk, on + dt.timedelta(days=rng.choice([-8, -7, 0, 3, 7, 8])), "bilirubin_total", "umol/L",
                     Decimal(rng.randint(30, 90)), rng.choice([None, Decimal("17")]))
            )  # fmt: skip
        rng.shuffle(labs)  # ids not in date order
        LabResult.objects.bulk_create(labs)
    return ids


def mutate(*, seed: int = 15, by=None, today: dt.date = TODAY) -> None:
    """Change the record the way clinicians do between two evaluations: acknowledge some
    alerts, correct, delete and add results, stop courses, correct weights and diagnoses."""
    from clinical.services import alert_acknowledge

    rng = random.Random(seed)
    for alert in Alert.objects.filter(status="open").order_by("patient__registry_code", "rule", "subject_key"):
        if rng.random() < 0.15:
            alert_acknowledge(alert=alert, by=by, note=f"seen {alert.rule}")
    labs = list(LabResult.objects.order_by("public_id"))
    for lab in labs:
        r = rng.random()
        if r < 0.06:
            lab.delete()
        elif r < 0.14:
            factor = Decimal(rng.choice(["0.5", "0.9", "1.1", "2", "1000"]))
            LabResult.objects.filter(pk=lab.pk).update(
                value=F("value") * factor, canonical_value=F("canonical_value") * factor
            )
        elif r < 0.17:
            LabResult.objects.filter(pk=lab.pk).update(collected_on=lab.collected_on - dt.timedelta(days=40))
    for p in Patient.objects.filter(registry_code__startswith="GOLD-").order_by("registry_code"):
        if rng.random() < 0.25:
            analyte, unit, low, high, decimals, exact = rng.choice(LABS)
            LabResult.objects.bulk_create(
                [
                    _lab(
                        rng,
                        p.pk,
                        today - dt.timedelta(days=rng.randint(0, 400)),
                        analyte,
                        unit,
                        _value(rng, low, high, decimals, exact),
                    )
                    for _ in range(rng.randint(1, 3))
                ]
            )
        if rng.random() < 0.05:
            Patient.objects.filter(pk=p.pk).update(primary_subtype=rng.choice(SUBTYPES[:-1]))
    for course in TreatmentCourse.objects.filter(end_date__isnull=True).order_by("public_id"):
        if rng.random() < 0.2:
            end = max(course.start_date, today - dt.timedelta(days=rng.randint(0, 120)))
            TreatmentCourse.objects.filter(pk=course.pk).update(end_date=end, stop_reason="other")
    for visit in Visit.objects.filter(weight_kg__isnull=False).order_by("public_id"):
        if rng.random() < 0.05:
            Visit.objects.filter(pk=visit.pk).update(weight_kg=F("weight_kg") * Decimal("0.85"))
    for diagnosis in Diagnosis.objects.order_by("public_id"):
        if rng.random() < 0.1:
            diagnosis.delete()


def _step(at: dt.datetime | None, steps: list[tuple[str, dt.datetime]]) -> str | None:
    """The name of the last step that started at or before ``at``."""
    if at is None:
        return None
    name = None
    for label, start in steps:
        if start <= at:
            name = label
    return name


def outputs(steps: list[tuple[str, dt.datetime]]) -> dict[str, list[Any]]:
    """Every computed row, with ids as public ids (or registry codes), sorted."""
    code = dict(Patient.objects.values_list("id", "registry_code"))
    lab = dict(LabResult.objects.values_list("id", "public_id"))
    course = dict(TreatmentCourse.objects.values_list("id", "public_id"))
    dose = dict(DoseChange.objects.values_list("id", "public_id"))
    visit = dict(Visit.objects.values_list("id", "public_id"))

    def ref(table: dict, pk: int | None) -> str | None:
        if pk is None:
            return None
        return str(table[pk]) if pk in table else "(deleted)"

    alerts = [
        [
            code[a.patient_id],
            a.rule,
            a.subject_key,
            a.severity,
            a.severity_rank,
            a.status,
            a.message,
            a.params,
            a.observed_on.isoformat() if a.observed_on else None,
            ref(lab, a.lab_result_id),
            ref(course, a.course_id),
            ref(dose, a.dose_change_id),
            ref(visit, a.visit_id),
            a.acknowledged_by.username if a.acknowledged_by else None,
            a.acknowledge_note,
            a.acknowledged_at is not None,
            a.resolved_at is not None,
            a.withdrawn_reason,
            a.withdrawn_by.username if a.withdrawn_by else None,
            a.withdrawn_at is not None,
            _step(a.created_at, steps),
            _step(a.updated_at, steps),
        ]
        for a in Alert.objects.select_related("acknowledged_by", "withdrawn_by")
    ]
    snapshots = [
        [
            code[s.patient_id],
            s.analyte,
            ref(course, s.course_id),
            s.n_values,
            s.latest_value,
            s.latest_on.isoformat() if s.latest_on else None,
            s.baseline_value,
            s.baseline_on.isoformat() if s.baseline_on else None,
            s.nadir_value,
            s.nadir_on.isoformat() if s.nadir_on else None,
            s.slope_per_year,
            s.months,
        ]
        for s in TrendSnapshot.objects.all()
    ]
    responses = [
        [
            code[r.course.patient_id],
            ref(course, r.course_id),
            r.response_class,
            r.hba1c_change,
            r.tg_percent_change,
            r.provisional,
        ]
        for r in CourseResponse.objects.select_related("course")
    ]
    patients = [
        [c, needs, evaluated is not None]
        for c, needs, evaluated in Patient.objects.values_list("registry_code", "needs_evaluation", "evaluated_at")
    ]
    return {
        "alerts": sorted(alerts, key=repr),
        "snapshots": sorted(snapshots, key=repr),
        "responses": sorted(responses, key=repr),
        "patients": sorted(patients),
    }
