"""The synthetic demo cohort as plain data (no database).

:func:`cohort_plan` turns (number of patients, seed, today) into a list of
:class:`PatientPlan`; ``manage.py seed_demo`` writes them through the services. Patient
``i`` depends only on (seed, i, today), so ``--patients 20`` is a prefix of the default
cohort and re-running never changes who is who.

Every person here is invented: family names are ``Demo-<place>``, given names ``Test``.
The trajectory parameters below are generator settings for plausible-looking data, not
clinical rules (those live in ``clinical.catalogue``). Values are produced in canonical
units and converted to the entry unit with the catalogue's own conversions.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from clinical import catalogue
from registry.demo.cohort import (
    GROUP_CYCLE,
    GROUP_PROFILE,
    HGPS_VARIANT,
    MADA_VARIANT,
    PHENOTYPES_BY_PATTERN,
    PLACES,
    SITES,
    VARIANTS,
    DemoSite,
)
from registry.demo.plans import CoursePlan, GeneticPlan, LabPlan, PatientPlan, VisitPlan

# --- helpers --------------------------------------------------------------------------


def _round(value: float | Decimal, places: int) -> Decimal:
    """A generated float as a Decimal with ``places`` decimals, as a lab would report it."""
    quantum = Decimal(1).scaleb(-places)
    return Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)


def _entry(analyte: str, canonical: float, unit: str) -> LabPlan:
    """A lab entry in ``unit``, rounded as labs report it, kept inside the hard limits."""
    info = catalogue.ANALYTES[analyte]
    limits = info.hard_limits
    c = Decimal(str(canonical))
    if limits.low is not None:
        c = max(c, limits.low)
    if limits.high is not None:
        c = min(c, limits.high)
    shown = _round(info.from_canonical(c, unit), info.decimals_for(info.unit(unit).unit))
    lo = info.limits_in(unit)
    # rounding may step just over a limit: nudge back inside by one quantum
    step = Decimal(1).scaleb(-info.decimals_for(info.unit(unit).unit))
    while lo.low is not None and shown < lo.low:
        shown += step
    while lo.high is not None and shown > lo.high:
        shown -= step
    return LabPlan(analyte, shown, info.unit(unit).unit)


def _canonical(analyte: str, value: float, unit: str) -> float:
    return float(catalogue.ANALYTES[analyte].to_canonical(Decimal(str(value)), unit))


def _unit_for(analyte: str, system: str) -> str:
    return catalogue.ANALYTES[analyte].display[system]


def _years(a: dt.date, b: dt.date) -> float:
    return (b - a).days / 365.25


# --- the generator: one patient, step by step ----------------------------------------
#
# Each step draws from the patient's own random stream in a fixed order, so the steps
# must run in the order of ``patient_plan``: moving a draw changes every later value.


@dataclass(frozen=True)
class Timeline:
    birth_date: dt.date
    onset_date: dt.date
    diagnosis_date: dt.date
    visit_days: list[dt.date]


@dataclass(frozen=True)
class Treatment:
    """The metabolic starting point and whether (and when) metreleptin is given."""

    base_tg_mgdl: float
    base_a1c: float
    on_metreleptin: bool
    responder: bool | None
    start_idx: int | None
    start: dt.date | None
    end: dt.date | None


@dataclass(frozen=True)
class Body:
    height: float
    base_weight: float
    leptin_base: float
    alt_base: float
    tg_floor: float
    a1c_drop: float
    tau: float


def _sex(rng: random.Random, group: str) -> str:
    female_share = 0.75 if group in {"FPLD", "APL"} else 0.5
    return "female" if rng.random() < female_share else "male"


def _family_name(index: int) -> str:
    place = PLACES[index % len(PLACES)]
    return f"Demo-{place}" + (f"-{index // len(PLACES) + 1}" if index >= len(PLACES) else "")


def _timeline(rng: random.Random, *, group: str, subtype: catalogue.Subtype, today: dt.date) -> Timeline:
    """Birth, onset, diagnosis and the visit days."""
    # Follow-up: 2-10 years, ending recently; about one in ten has been lost to follow-up
    # for 6-10 months (the monitoring-overdue alert then has something to say).
    years = rng.uniform(2.0, 10.0)
    lost = rng.random() < 0.1
    last_gap = rng.randint(190, 300) if lost else rng.randint(3, 100)
    last_visit = today - dt.timedelta(days=last_gap)
    first_visit = last_visit - dt.timedelta(days=int(years * 365.25))
    age_at_first = rng.uniform(18, 55)
    birth_date = first_visit - dt.timedelta(days=int(age_at_first * 365.25))
    if group == "CGL":  # congenital: from birth or infancy
        onset_date = birth_date + dt.timedelta(days=rng.randint(0, 700))
    elif group == "FPLD":  # fat loss becomes visible around puberty
        onset_date = birth_date + dt.timedelta(days=rng.randint(11 * 365, 16 * 365))
    else:
        onset_date = birth_date + dt.timedelta(days=rng.randint(365, 6 * 365))
    if subtype.acquired:
        onset_date = first_visit - dt.timedelta(days=rng.randint(400, 3000))
        onset_date = max(onset_date, birth_date + dt.timedelta(days=365 * 5))
    diagnosis_date = first_visit - dt.timedelta(days=rng.randint(0, 200))
    onset_date = min(onset_date, diagnosis_date)
    return Timeline(birth_date, onset_date, diagnosis_date, _visit_days(rng, first_visit, last_visit))


def _visit_days(rng: random.Random, first_visit: dt.date, last_visit: dt.date) -> list[dt.date]:
    visit_days = [first_visit]
    while True:
        nxt = visit_days[-1] + dt.timedelta(days=rng.randint(85, 200))
        if nxt >= last_visit:
            break
        visit_days.append(nxt)
    if (last_visit - visit_days[-1]).days > 30:
        visit_days.append(last_visit)
    elif len(visit_days) > 1:
        visit_days[-1] = last_visit
    return visit_days


def _treatment(rng: random.Random, *, index: int, group: str, visit_days: list[dt.date]) -> Treatment:
    """Metreleptin: most generalized forms, some severe partial / progeroid forms."""
    tg_range, a1c_range = GROUP_PROFILE[group][:2]
    base_tg_mgdl = rng.uniform(*tg_range)
    base_a1c = rng.uniform(*a1c_range)
    if index == 1:  # the cohort always holds at least one chylomicronaemia-range triglyceride
        base_tg_mgdl = max(base_tg_mgdl, 1450.0)
    treat_p = {"CGL": 0.9, "AGL": 0.9, "FPLD": 0.35, "PROGEROID": 0.3}.get(group, 0.0)
    on_metreleptin = len(visit_days) >= 4 and rng.random() < treat_p
    if group in {"CGL", "AGL"} and len(visit_days) >= 4 and index < 20:
        on_metreleptin = True
    responder = rng.random() < 0.8 if on_metreleptin else None
    start_idx = rng.randint(1, min(3, len(visit_days) - 3)) if on_metreleptin else None
    start = visit_days[start_idx] if start_idx is not None else None
    stopped = on_metreleptin and rng.random() < 0.12
    end = None
    if stopped:
        after = [d for d in visit_days if start and d > start + dt.timedelta(days=400)]
        if len(after) >= 2:
            end = after[len(after) // 2] - dt.timedelta(days=rng.randint(5, 40))
    return Treatment(base_tg_mgdl, base_a1c, on_metreleptin, responder, start_idx, start, end)


def _body(rng: random.Random, *, group: str, sex: str) -> Body:
    _tg, _a1c, leptin_range, alt_range, bmi_range = GROUP_PROFILE[group]
    height = rng.uniform(165, 186) if sex == "male" else rng.uniform(152, 172)
    bmi = rng.uniform(*bmi_range)
    return Body(
        height=height,
        base_weight=bmi * (height / 100) ** 2,
        leptin_base=rng.uniform(*leptin_range),
        alt_base=rng.uniform(*alt_range),
        tg_floor=rng.uniform(0.3, 0.55),
        a1c_drop=rng.uniform(1.2, 2.8),
        tau=rng.uniform(0.2, 0.45),
    )


def _lab_systems(rng: random.Random, site: DemoSite, n_visits: int) -> list[str]:
    """The unit system each visit's lab report arrives in."""
    if site.lab_units == "mixed":
        return [catalogue.CONVENTIONAL if rng.random() < 0.5 else catalogue.SI for _ in range(n_visits)]
    return [site.lab_units] * n_visits


def _effect(day: dt.date, tr: Treatment, body: Body) -> float:
    """How much of the metreleptin effect a visit on ``day`` shows (0 before or without)."""
    if not (tr.start and day > tr.start):
        return 0.0
    end = tr.end if tr.end and day > tr.end else day
    effect = 1 - math.exp(-_years(tr.start, end) / body.tau)
    if tr.end and day > tr.end:  # effect wears off after a stop
        effect *= math.exp(-_years(tr.end, day) / 0.15)
    return effect


def _metabolic(rng: random.Random, *, drift: float, n: int, effect: float, tr: Treatment, body: Body):
    """(triglycerides mg/dL, HbA1c %) at one visit."""
    if tr.responder:
        tg_mgdl = tr.base_tg_mgdl * (1 - (1 - body.tg_floor) * effect)
        a1c = tr.base_a1c - body.a1c_drop * effect
    elif tr.on_metreleptin:
        tg_mgdl = tr.base_tg_mgdl * (1 - 0.1 * effect)
        a1c = tr.base_a1c - 0.3 * effect
    else:
        tg_mgdl = tr.base_tg_mgdl * (1 + 0.02 * drift)
        if tr.base_tg_mgdl >= 500 and n > 0:  # fibrate and omega-3 from the first visit
            tg_mgdl *= 0.6
        a1c = tr.base_a1c + 0.05 * drift
    tg_mgdl *= math.exp(rng.gauss(0, 0.15))
    a1c = max(4.6, a1c + rng.gauss(0, 0.25))
    return tg_mgdl, a1c


def _labs(
    rng: random.Random,
    *,
    group: str,
    system: str,
    tg_mgdl: float,
    a1c: float,
    effect: float,
    yearly: bool,
    with_leptin: bool,
    body: Body,
) -> list[LabPlan]:
    unit_of = {a: _unit_for(a, system) for a in ("triglycerides", "hba1c", "glucose", "leptin")}
    fasting_glucose_mgdl = max(72.0, 28.7 * a1c - 46.7 - rng.uniform(0, 30))
    alt = body.alt_base * (1 - 0.45 * effect) * math.exp(rng.gauss(0, 0.2))
    labs = [
        _entry("triglycerides", _canonical("triglycerides", tg_mgdl, "mg/dL"), unit_of["triglycerides"]),
        _entry("hba1c", a1c, unit_of["hba1c"]),
        _entry("glucose", _canonical("glucose", fasting_glucose_mgdl, "mg/dL"), unit_of["glucose"]),
        _entry("alt", alt, "U/L"),
        _entry("ast", alt * rng.uniform(0.6, 0.9), "U/L"),
    ]
    labs[0].fasting = labs[2].fasting = True
    if yearly:
        hdl_mgdl = rng.uniform(22, 42) if group in {"CGL", "AGL", "FPLD"} else rng.uniform(35, 60)
        tc_mgdl = rng.uniform(160, 260) + tg_mgdl * 0.05
        labs += [
            _entry(
                "total_cholesterol",
                _canonical("total_cholesterol", tc_mgdl, "mg/dL"),
                _unit_for("total_cholesterol", system),
            ),
            _entry(
                "hdl_cholesterol",
                _canonical("hdl_cholesterol", hdl_mgdl, "mg/dL"),
                _unit_for("hdl_cholesterol", system),
            ),
            _entry(
                "creatinine",
                _canonical("creatinine", rng.uniform(0.6, 1.1), "mg/dL"),
                _unit_for("creatinine", system),
            ),
        ]
    if with_leptin:
        labs.append(_entry("leptin", body.leptin_base * math.exp(rng.gauss(0, 0.1)), unit_of["leptin"]))
    return labs


def _measures(
    rng: random.Random, *, day: dt.date, effect: float, yearly: bool, group: str, subtype: catalogue.Subtype, body: Body
) -> dict:
    """Weight and blood pressure at every visit; height, waist, hip and liver yearly."""
    weight = body.base_weight * (1 - 0.04 * effect) * (1 + rng.gauss(0, 0.012))
    sbp = int(rng.uniform(108, 148))
    dbp = int(min(sbp - 25, rng.uniform(62, 92)))
    fields: dict = {"visit_date": day, "weight_kg": _round(weight, 1), "systolic_bp": sbp, "diastolic_bp": dbp}
    if yearly:
        waist = weight * rng.uniform(1.05, 1.35)
        fields.update(
            height_cm=_round(body.height, 1),
            waist_cm=_round(waist, 1),
            hip_cm=_round(waist / rng.uniform(0.85, 1.05), 1),
        )
        if subtype.pattern == "generalized" or group == "FPLD":
            fields["liver_ultrasound"] = rng.choice(["moderate_steatosis", "severe_steatosis", "mild_steatosis"])
    return fields


def _first_visit_body(
    rng: random.Random, *, fields: dict, group: str, subtype: catalogue.Subtype, tg_mgdl: float, a1c: float
) -> tuple[list[tuple[str, Decimal]], list[tuple[str, bool]]]:
    """At the first visit: DXA regional fat (into ``fields``), skinfolds and HPO findings."""
    skinfolds: list[tuple[str, Decimal]] = []
    if subtype.pattern == "generalized":
        trunk, leg = rng.uniform(7, 13), rng.uniform(5, 11)
    elif subtype.pattern == "partial":
        trunk, leg = rng.uniform(22, 34), rng.uniform(9, 18)
    else:
        trunk, leg = rng.uniform(22, 32), rng.uniform(25, 35)
    if group in {"CGL", "FPLD", "AGL", "APL"}:
        fields.update(
            dxa_trunk_fat_pct=_round(trunk, 1),
            dxa_leg_fat_pct=_round(leg, 1),
            dxa_arm_fat_pct=_round(leg * rng.uniform(0.8, 1.1), 1),
            dxa_total_fat_pct=_round((trunk + leg) / 2, 1),
        )
        thin = subtype.pattern == "generalized"
        skinfolds = [
            ("triceps", _round(rng.uniform(2, 5) if thin or group == "FPLD" else rng.uniform(8, 18), 1)),
            ("subscapular", _round(rng.uniform(3, 6) if thin else rng.uniform(12, 25), 1)),
            ("anterior_thigh", _round(rng.uniform(2, 6) if thin or group == "FPLD" else rng.uniform(10, 25), 1)),
            ("calf", _round(rng.uniform(2, 5) if thin or group == "FPLD" else rng.uniform(6, 15), 1)),
        ]
    terms = PHENOTYPES_BY_PATTERN[subtype.pattern]
    phenotypes = [(h, False) for h in terms[: rng.randint(min(2, len(terms)), len(terms))]]
    if tg_mgdl >= 200:
        phenotypes.append(("HP:0002155", False))
    if a1c >= 6.5:
        phenotypes.append(("HP:0000819", False))
    if group in {"CGL", "AGL"}:
        phenotypes.append(("HP:0001733", rng.random() < 0.7))  # pancreatitis: mostly excluded
    return skinfolds, phenotypes


def _visits(
    rng: random.Random,
    *,
    site: DemoSite,
    group: str,
    subtype: catalogue.Subtype,
    timeline: Timeline,
    tr: Treatment,
    body: Body,
) -> list[VisitPlan]:
    days = timeline.visit_days
    systems = _lab_systems(rng, site, len(days))
    visits: list[VisitPlan] = []
    for n, day in enumerate(days):
        effect = _effect(day, tr, body)
        tg_mgdl, a1c = _metabolic(rng, drift=_years(days[0], day), n=n, effect=effect, tr=tr, body=body)
        yearly = n == 0 or n % 3 == 0
        labs = _labs(
            rng,
            group=group,
            system=systems[n],
            tg_mgdl=tg_mgdl,
            a1c=a1c,
            effect=effect,
            yearly=yearly,
            with_leptin=n == 0 or (not tr.on_metreleptin and yearly),
            body=body,
        )
        fields = _measures(rng, day=day, effect=effect, yearly=yearly, group=group, subtype=subtype, body=body)
        skinfolds: list[tuple[str, Decimal]] = []
        phenotypes: list[tuple[str, bool]] = []
        if n == 0:
            skinfolds, phenotypes = _first_visit_body(
                rng, fields=fields, group=group, subtype=subtype, tg_mgdl=tg_mgdl, a1c=a1c
            )
        if group == "LOCALIZED" and yearly:
            fields["injection_site_finding"] = (
                "lipohypertrophy" if subtype.code == "LOCAL_LIPOHYPERTROPHY" else "lipoatrophy"
            )
            fields["rotation_education_given"] = True
        visits.append(VisitPlan(day, fields, labs, skinfolds, phenotypes))
    return visits


def _metreleptin_course(rng: random.Random, *, tr: Treatment, visits: list[VisitPlan], sex: str) -> CoursePlan:
    """The label starting dose at the start weight, raised by one label step at each of the
    next three visits up to the label maximum."""
    start_weight = visits[tr.start_idx].fields["weight_kg"]
    suggestion = catalogue.metreleptin_start_dose(start_weight, sex)
    course = CoursePlan("metreleptin", tr.start, suggestion.mg, "mg/day")
    dose = suggestion.mg
    for v in visits[tr.start_idx + 1 : tr.start_idx + 4]:
        if tr.end and v.day > tr.end:
            break
        row = suggestion.row
        step = row.step_high if row.per_kg is False else row.step_low * start_weight
        nxt = min(suggestion.max_mg, (dose + step).quantize(Decimal("0.01")))
        if nxt > dose:
            course.changes.append((v.day, nxt))
            dose = nxt
    if tr.end:
        course.end = tr.end
        course.stop_reason = rng.choice(["access", "patient_choice", "adverse_event"])
    return course


def _courses(
    rng: random.Random, *, group: str, timeline: Timeline, tr: Treatment, visits: list[VisitPlan], sex: str
) -> list[CoursePlan]:
    first_visit = timeline.visit_days[0]
    courses: list[CoursePlan] = []
    diabetic = tr.base_a1c >= 6.5
    if diabetic:
        courses.append(CoursePlan("metformin", first_visit, Decimal(rng.choice([1000, 1500, 2000])), "mg/day"))
    if group == "LOCALIZED" or (diabetic and tr.base_a1c > 8.5):
        insulin_start = first_visit - dt.timedelta(days=rng.randint(200, 2000))
        insulin_start = max(insulin_start, timeline.diagnosis_date)
        courses.append(CoursePlan("insulin", insulin_start, Decimal(rng.randint(40, 180)), "U/day"))
    if tr.base_tg_mgdl >= 500:
        courses.append(CoursePlan("fibrate", first_visit, Decimal(145), "mg/day"))
        courses.append(CoursePlan("omega3", first_visit, Decimal(4), "g/day"))
    elif tr.base_tg_mgdl >= 200 and rng.random() < 0.5:
        courses.append(CoursePlan("statin", first_visit, Decimal(rng.choice([10, 20, 40])), "mg/day"))
    if tr.on_metreleptin and tr.start:
        courses.append(_metreleptin_course(rng, tr=tr, visits=visits, sex=sex))
    return sorted(courses, key=lambda c: (c.start, c.drug))


def _genetics(rng: random.Random, subtype: catalogue.Subtype) -> list[GeneticPlan]:
    if not subtype.genes:
        return []
    if subtype.code == "HGPS":
        transcript, c, p, acmg = HGPS_VARIANT
    elif subtype.code == "MADA":
        transcript, c, p, acmg = MADA_VARIANT
    else:
        options = VARIANTS[subtype.genes[0]]
        transcript, c, p, acmg = options[rng.randrange(len(options))]
    zygosity = "homozygous" if subtype.inheritance == "AR" else "heterozygous"
    return [GeneticPlan(subtype.genes[0], transcript, c, p, zygosity, acmg)]


def patient_plan(index: int, *, seed: int, today: dt.date) -> PatientPlan:
    """The plan of one demo patient; a pure function of (index, seed, today)."""
    rng = random.Random(f"ld-demo:{seed}:{index}")
    site = SITES[index % len(SITES)]
    group = GROUP_CYCLE[index % len(GROUP_CYCLE)]
    subtypes = [s for s in catalogue.SUBTYPES.values() if s.group == group]
    subtype = subtypes[rng.randrange(len(subtypes))]
    sex = _sex(rng, group)
    timeline = _timeline(rng, group=group, subtype=subtype, today=today)
    tr = _treatment(rng, index=index, group=group, visit_days=timeline.visit_days)
    body = _body(rng, group=group, sex=sex)
    visits = _visits(rng, site=site, group=group, subtype=subtype, timeline=timeline, tr=tr, body=body)
    courses = _courses(rng, group=group, timeline=timeline, tr=tr, visits=visits, sex=sex)
    genetics = _genetics(rng, subtype)
    consent = rng.random() < 0.88
    return PatientPlan(
        index=index,
        site=site.code,
        mrn=f"DEMO{index + 1:05d}",
        family_name=_family_name(index),
        given_name="Test",
        sex=sex,
        birth_date=timeline.birth_date,
        subtype=subtype.code,
        onset_date=timeline.onset_date,
        diagnosis_date=timeline.diagnosis_date,
        diagnosis_basis="clinical_and_genetic" if genetics else "clinical",
        consent=consent,
        consent_version="v2.1",
        consented_on=timeline.visit_days[0],
        genetics=genetics,
        visits=visits,
        courses=courses,
        on_metreleptin=tr.on_metreleptin,
        responder=tr.responder,
    )


def cohort_plan(n_patients: int = 60, *, seed: int = 1, today: dt.date) -> list[PatientPlan]:
    return [patient_plan(i, seed=seed, today=today) for i in range(n_patients)]
