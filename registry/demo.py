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
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from clinical import catalogue

D = Decimal

# --- sites, users ---------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSite:
    code: str
    name: str
    country: str
    lab_units: str  # "conventional", "si" or "mixed": how this site's lab reports arrive


SITES = (
    DemoSite("DEMO-NORTH", "Northfield Demo Hospital", "GB", catalogue.CONVENTIONAL),
    DemoSite("DEMO-SOUTH", "Suedstadt Demo Klinikum", "DE", catalogue.SI),
    DemoSite("DEMO-EAST", "Estuaire Demo Centre", "FR", "mixed"),
)

# One password for every demo login; it passes the project's password validators.
DEMO_PASSWORD = "lipo-demo-registry-2025"  # noqa: S105


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: str  # a registry.models.Role value, or "superuser"
    sites: tuple[str, ...]
    unit_system: str = catalogue.CONVENTIONAL


USERS = (
    DemoUser("clin_north", "Nora", "Demo-Clinician", "clinician", ("DEMO-NORTH",)),
    DemoUser("clin_south", "Sven", "Demo-Clinician", "clinician", ("DEMO-SOUTH",), catalogue.SI),
    DemoUser("clin_east", "Elise", "Demo-Clinician", "clinician", ("DEMO-EAST",), catalogue.SI),
    DemoUser("lead_north", "Leo", "Demo-Lead", "site_lead", ("DEMO-NORTH",)),
    DemoUser("researcher", "Rita", "Demo-Researcher", "researcher", tuple(s.code for s in SITES)),
    DemoUser("registry_admin", "Ravi", "Demo-Admin", "registry_admin", ("DEMO-NORTH",)),
    DemoUser("admin", "Ada", "Demo-Superuser", "superuser", ()),
)

CLINICIAN_OF_SITE = {"DEMO-NORTH": "clin_north", "DEMO-SOUTH": "clin_south", "DEMO-EAST": "clin_east"}

# Demo history: alerts whose evidence is older than this were reviewed at the time, so the
# seed acknowledges them (by the site's clinician) and the worklist shows recent ones.
HISTORY_REVIEWED_AFTER_DAYS = 180
HISTORY_NOTE = "Reviewed at the time (demo history)"

# --- plan dataclasses -----------------------------------------------------------------


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


# --- generator settings ---------------------------------------------------------------

# Subtype group of patient i is GROUP_CYCLE[i % len]; the first ten cover every group.
GROUP_CYCLE = (
    "FPLD",
    "CGL",
    "AGL",
    "APL",
    "HIV",
    "LOCALIZED",
    "PROGEROID",
    "FPLD",
    "CGL",
    "FPLD",
    "APL",
    "FPLD",
    "AGL",
    "CGL",
    "FPLD",
    "HIV",
    "FPLD",
    "PROGEROID",
    "CGL",
    "FPLD",
)

PLACES = [
    "Ashford",
    "Bexley",
    "Carlow",
    "Dunmore",
    "Elmstead",
    "Fairlie",
    "Glenrock",
    "Harwick",
    "Ilsley",
    "Jarrow",
    "Kelso",
    "Langley",
    "Marlow",
    "Norwood",
    "Oakham",
    "Penrith",
    "Quarley",
    "Ripley",
    "Selsey",
    "Thirsk",
    "Upton",
    "Ventnor",
    "Wetherby",
    "Yarm",
    "Alnwick",
    "Bampton",
    "Cromer",
    "Dalby",
    "Eyam",
    "Fenwick",
    "Goring",
    "Hexham",
    "Ickford",
    "Jevington",
    "Keswick",
    "Ludlow",
    "Malton",
    "Nayland",
    "Olney",
    "Padstow",
    "Quorn",
    "Ryde",
    "Settle",
    "Tetbury",
    "Uley",
    "Wantage",
    "Whitby",
    "Acle",
    "Brough",
    "Clun",
    "Ditton",
    "Epping",
    "Frome",
    "Grange",
    "Hythe",
    "Ingham",
    "Kirkby",
    "Lydd",
    "Mere",
    "Nether",
]

# Per group: (TG mg/dL range, HbA1c % range, leptin ng/mL range, ALT U/L range, BMI range)
GROUP_PROFILE = {
    "CGL": ((450, 1800), (7.5, 11.0), (0.1, 1.0), (55, 160), (18.5, 22.0)),
    "AGL": ((400, 1500), (7.5, 10.5), (0.3, 2.0), (50, 140), (18.5, 22.5)),
    "FPLD": ((200, 700), (6.4, 9.5), (2.0, 8.0), (30, 90), (23.0, 30.0)),
    "APL": ((140, 320), (5.4, 6.6), (3.0, 10.0), (18, 45), (21.0, 27.0)),
    "HIV": ((200, 450), (5.7, 7.2), (2.0, 8.0), (25, 60), (21.0, 27.0)),
    "LOCALIZED": ((90, 180), (7.4, 9.5), (8.0, 20.0), (15, 40), (24.0, 31.0)),
    "PROGEROID": ((150, 500), (5.6, 8.0), (1.0, 5.0), (20, 60), (17.5, 23.0)),
}

# Genetic findings used for the synthetic cohort: gene -> (transcript, c., p., acmg).
VARIANTS = {
    "AGPAT2": [("NM_006412.4", "c.589-2A>G", "p.?", "pathogenic")],
    "BSCL2": [("NM_001122955.4", "c.974dup", "p.(Ala326Glyfs*?)", "pathogenic")],
    "CAV1": [("NM_001753.5", "c.424C>T", "p.(Gln142Ter)", "pathogenic")],
    "CAVIN1": [("NM_012232.6", "c.696_697insC", "p.(Lys233Glnfs*?)", "likely_pathogenic")],
    "LMNA": [
        ("NM_170707.4", "c.1444C>T", "p.(Arg482Trp)", "pathogenic"),
        ("NM_170707.4", "c.1445G>A", "p.(Arg482Gln)", "pathogenic"),
    ],
    "PPARG": [("NM_015869.5", "c.1273G>A", "p.(Val425Met)", "likely_pathogenic")],
    "PLIN1": [("NM_002666.5", "c.1210-1G>C", "p.?", "likely_pathogenic")],
    "CIDEC": [("NM_001199551.2", "c.553G>T", "p.(Glu186Ter)", "pathogenic")],
    "LIPE": [("NM_005357.4", "c.3808_3809del", "p.(Val1270Glufs*?)", "likely_pathogenic")],
    "AKT2": [("NM_001626.6", "c.821G>A", "p.(Arg274His)", "pathogenic")],
    "MFN2": [("NM_014874.4", "c.2119C>T", "p.(Arg707Trp)", "pathogenic")],
    "ZMPSTE24": [("NM_005857.5", "c.1085dup", "p.(Leu362Phefs*19)", "pathogenic")],
    "POLD1": [("NM_002691.4", "c.1812_1814del", "p.(Ser605del)", "pathogenic")],
    "PIK3R1": [("NM_181523.3", "c.1945C>T", "p.(Arg649Trp)", "pathogenic")],
    "PSMB8": [("NM_148919.4", "c.224C>T", "p.(Thr75Met)", "pathogenic")],
}
HGPS_VARIANT = ("NM_170707.4", "c.1824C>T", "p.(Gly608=)", "pathogenic")
MADA_VARIANT = ("NM_170707.4", "c.1580G>A", "p.(Arg527His)", "pathogenic")

PHENOTYPES_BY_PATTERN = {
    "generalized": ["HP:0009125", "HP:0008887", "HP:0001397", "HP:0000956", "HP:0003712", "HP:0002591"],
    "partial": ["HP:0009125", "HP:0003635", "HP:0001397", "HP:0000956"],
    "localized": ["HP:0007552"],
}

# --- helpers --------------------------------------------------------------------------


def _q(value: float | Decimal, places: int) -> Decimal:
    quantum = D(1).scaleb(-places)
    return D(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)


def _entry(analyte: str, canonical: float, unit: str) -> LabPlan:
    """A lab entry in ``unit``, rounded as labs report it, kept inside the hard limits."""
    info = catalogue.ANALYTES[analyte]
    limits = info.hard_limits
    c = D(str(canonical))
    if limits.low is not None:
        c = max(c, limits.low)
    if limits.high is not None:
        c = min(c, limits.high)
    shown = _q(info.from_canonical(c, unit), info.decimals_for(info.unit(unit).unit))
    lo = info.limits_in(unit)
    # rounding may step just over a limit: nudge back inside by one quantum
    step = D(1).scaleb(-info.decimals_for(info.unit(unit).unit))
    while lo.low is not None and shown < lo.low:
        shown += step
    while lo.high is not None and shown > lo.high:
        shown -= step
    return LabPlan(analyte, shown, info.unit(unit).unit)


def _canonical(analyte: str, value: float, unit: str) -> float:
    return float(catalogue.ANALYTES[analyte].to_canonical(D(str(value)), unit))


def _unit_for(analyte: str, system: str) -> str:
    return catalogue.ANALYTES[analyte].display[system]


def _years(a: dt.date, b: dt.date) -> float:
    return (b - a).days / 365.25


# --- the generator --------------------------------------------------------------------


def patient_plan(index: int, *, seed: int, today: dt.date) -> PatientPlan:
    """The plan of one demo patient; a pure function of (index, seed, today)."""
    rng = random.Random(f"ld-demo:{seed}:{index}")
    site = SITES[index % len(SITES)]
    group = GROUP_CYCLE[index % len(GROUP_CYCLE)]
    subtypes = [s for s in catalogue.SUBTYPES.values() if s.group == group]
    subtype = subtypes[rng.randrange(len(subtypes))]
    tg_range, a1c_range, leptin_range, alt_range, bmi_range = GROUP_PROFILE[group]

    female_share = 0.75 if group in {"FPLD", "APL"} else 0.5
    sex = "female" if rng.random() < female_share else "male"
    place = PLACES[index % len(PLACES)]
    family_name = f"Demo-{place}" + (f"-{index // len(PLACES) + 1}" if index >= len(PLACES) else "")

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

    # Metreleptin: most generalized forms, some severe partial / progeroid forms.
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
    mleptin_start = visit_days[start_idx] if start_idx is not None else None
    stopped = on_metreleptin and rng.random() < 0.12
    mleptin_end = None
    if stopped:
        after = [d for d in visit_days if mleptin_start and d > mleptin_start + dt.timedelta(days=400)]
        if len(after) >= 2:
            mleptin_end = after[len(after) // 2] - dt.timedelta(days=rng.randint(5, 40))

    height = rng.uniform(165, 186) if sex == "male" else rng.uniform(152, 172)
    bmi = rng.uniform(*bmi_range)
    base_weight = bmi * (height / 100) ** 2
    leptin_base = rng.uniform(*leptin_range)
    alt_base = rng.uniform(*alt_range)
    tg_floor = rng.uniform(0.3, 0.55)
    a1c_drop = rng.uniform(1.2, 2.8)
    tau = rng.uniform(0.2, 0.45)

    if site.lab_units == "mixed":
        systems = [catalogue.CONVENTIONAL if rng.random() < 0.5 else catalogue.SI for _ in visit_days]
    else:
        systems = [site.lab_units] * len(visit_days)

    visits: list[VisitPlan] = []
    for n, day in enumerate(visit_days):
        t_on = 0.0
        effect = 0.0
        if mleptin_start and day > mleptin_start:
            end = mleptin_end if mleptin_end and day > mleptin_end else day
            t_on = _years(mleptin_start, end)
            effect = 1 - math.exp(-t_on / tau)
            if mleptin_end and day > mleptin_end:  # effect wears off after a stop
                effect *= math.exp(-_years(mleptin_end, day) / 0.15)
        drift = _years(first_visit, day)
        if responder:
            tg_mgdl = base_tg_mgdl * (1 - (1 - tg_floor) * effect)
            a1c = base_a1c - a1c_drop * effect
        elif on_metreleptin:
            tg_mgdl = base_tg_mgdl * (1 - 0.1 * effect)
            a1c = base_a1c - 0.3 * effect
        else:
            tg_mgdl = base_tg_mgdl * (1 + 0.02 * drift)
            if base_tg_mgdl >= 500 and n > 0:  # fibrate and omega-3 from the first visit
                tg_mgdl *= 0.6
            a1c = base_a1c + 0.05 * drift
        tg_mgdl *= math.exp(rng.gauss(0, 0.15))
        a1c = max(4.6, a1c + rng.gauss(0, 0.25))
        system = systems[n]
        unit_of = {a: _unit_for(a, system) for a in ("triglycerides", "hba1c", "glucose", "leptin")}
        fasting_glucose_mgdl = max(72.0, 28.7 * a1c - 46.7 - rng.uniform(0, 30))
        alt = alt_base * (1 - 0.45 * effect) * math.exp(rng.gauss(0, 0.2))
        labs = [
            _entry("triglycerides", _canonical("triglycerides", tg_mgdl, "mg/dL"), unit_of["triglycerides"]),
            _entry("hba1c", a1c, unit_of["hba1c"]),
            _entry("glucose", _canonical("glucose", fasting_glucose_mgdl, "mg/dL"), unit_of["glucose"]),
            _entry("alt", alt, "U/L"),
            _entry("ast", alt * rng.uniform(0.6, 0.9), "U/L"),
        ]
        labs[0].fasting = labs[2].fasting = True
        yearly = n == 0 or n % 3 == 0
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
        if n == 0 or (not on_metreleptin and yearly):
            labs.append(_entry("leptin", leptin_base * math.exp(rng.gauss(0, 0.1)), unit_of["leptin"]))

        weight = base_weight * (1 - 0.04 * effect) * (1 + rng.gauss(0, 0.012))
        sbp = int(rng.uniform(108, 148))
        dbp = int(min(sbp - 25, rng.uniform(62, 92)))
        fields: dict = {
            "visit_date": day,
            "weight_kg": _q(weight, 1),
            "systolic_bp": sbp,
            "diastolic_bp": dbp,
        }
        if yearly:
            waist = weight * rng.uniform(1.05, 1.35)
            fields.update(
                height_cm=_q(height, 1),
                waist_cm=_q(waist, 1),
                hip_cm=_q(waist / rng.uniform(0.85, 1.05), 1),
            )
            if subtype.pattern == "generalized" or group == "FPLD":
                fields["liver_ultrasound"] = rng.choice(["moderate_steatosis", "severe_steatosis", "mild_steatosis"])
        skinfolds: list[tuple[str, Decimal]] = []
        phenotypes: list[tuple[str, bool]] = []
        if n == 0:
            if subtype.pattern == "generalized":
                trunk, leg = rng.uniform(7, 13), rng.uniform(5, 11)
            elif subtype.pattern == "partial":
                trunk, leg = rng.uniform(22, 34), rng.uniform(9, 18)
            else:
                trunk, leg = rng.uniform(22, 32), rng.uniform(25, 35)
            if group in {"CGL", "FPLD", "AGL", "APL"}:
                fields.update(
                    dxa_trunk_fat_pct=_q(trunk, 1),
                    dxa_leg_fat_pct=_q(leg, 1),
                    dxa_arm_fat_pct=_q(leg * rng.uniform(0.8, 1.1), 1),
                    dxa_total_fat_pct=_q((trunk + leg) / 2, 1),
                )
                thin = subtype.pattern == "generalized"
                skinfolds = [
                    ("triceps", _q(rng.uniform(2, 5) if thin or group == "FPLD" else rng.uniform(8, 18), 1)),
                    ("subscapular", _q(rng.uniform(3, 6) if thin else rng.uniform(12, 25), 1)),
                    ("anterior_thigh", _q(rng.uniform(2, 6) if thin or group == "FPLD" else rng.uniform(10, 25), 1)),
                    ("calf", _q(rng.uniform(2, 5) if thin or group == "FPLD" else rng.uniform(6, 15), 1)),
                ]
            terms = PHENOTYPES_BY_PATTERN[subtype.pattern]
            phenotypes = [(h, False) for h in terms[: rng.randint(min(2, len(terms)), len(terms))]]
            if tg_mgdl >= 200:
                phenotypes.append(("HP:0002155", False))
            if a1c >= 6.5:
                phenotypes.append(("HP:0000819", False))
            if group in {"CGL", "AGL"}:
                phenotypes.append(("HP:0001733", rng.random() < 0.7))  # pancreatitis: mostly excluded
        if group == "LOCALIZED" and yearly:
            fields["injection_site_finding"] = (
                "lipohypertrophy" if subtype.code == "LOCAL_LIPOHYPERTROPHY" else "lipoatrophy"
            )
            fields["rotation_education_given"] = True
        visits.append(VisitPlan(day, fields, labs, skinfolds, phenotypes))

    courses: list[CoursePlan] = []
    diabetic = base_a1c >= 6.5
    if diabetic:
        courses.append(CoursePlan("metformin", first_visit, D(rng.choice([1000, 1500, 2000])), "mg/day"))
    if group == "LOCALIZED" or (diabetic and base_a1c > 8.5):
        insulin_start = first_visit - dt.timedelta(days=rng.randint(200, 2000))
        insulin_start = max(insulin_start, diagnosis_date)
        courses.append(CoursePlan("insulin", insulin_start, D(rng.randint(40, 180)), "U/day"))
    if base_tg_mgdl >= 500:
        courses.append(CoursePlan("fibrate", visit_days[0], D(145), "mg/day"))
        courses.append(CoursePlan("omega3", visit_days[0], D(4), "g/day"))
    elif base_tg_mgdl >= 200 and rng.random() < 0.5:
        courses.append(CoursePlan("statin", visit_days[0], D(rng.choice([10, 20, 40])), "mg/day"))
    if on_metreleptin and mleptin_start:
        start_weight = visits[start_idx].fields["weight_kg"]
        suggestion = catalogue.metreleptin_start_dose(start_weight, sex)
        course = CoursePlan("metreleptin", mleptin_start, suggestion.mg, "mg/day")
        dose = suggestion.mg
        cap = suggestion.max_mg
        for v in visits[start_idx + 1 : start_idx + 4]:
            if mleptin_end and v.day > mleptin_end:
                break
            step = (
                suggestion.row.step_high if suggestion.row.per_kg is False else suggestion.row.step_low * start_weight
            )
            nxt = min(cap, (dose + step).quantize(D("0.01")))
            if nxt > dose:
                course.changes.append((v.day, nxt))
                dose = nxt
        if mleptin_end:
            course.end = mleptin_end
            course.stop_reason = rng.choice(["access", "patient_choice", "adverse_event"])
        courses.append(course)

    genetics: list[GeneticPlan] = []
    if subtype.genes:
        if subtype.code == "HGPS":
            transcript, c, p, acmg = HGPS_VARIANT
        elif subtype.code == "MADA":
            transcript, c, p, acmg = MADA_VARIANT
        else:
            options = VARIANTS[subtype.genes[0]]
            transcript, c, p, acmg = options[rng.randrange(len(options))]
        zygosity = "homozygous" if subtype.inheritance == "AR" else "heterozygous"
        genetics.append(GeneticPlan(subtype.genes[0], transcript, c, p, zygosity, acmg))

    consent = rng.random() < 0.88
    return PatientPlan(
        index=index,
        site=site.code,
        mrn=f"DEMO{index + 1:05d}",
        family_name=family_name,
        given_name="Test",
        sex=sex,
        birth_date=birth_date,
        subtype=subtype.code,
        onset_date=onset_date,
        diagnosis_date=diagnosis_date,
        diagnosis_basis="clinical_and_genetic" if genetics else "clinical",
        consent=consent,
        consent_version="v2.1",
        consented_on=first_visit,
        genetics=genetics,
        visits=visits,
        courses=sorted(courses, key=lambda c: (c.start, c.drug)),
        on_metreleptin=on_metreleptin,
        responder=responder,
    )


def cohort_plan(n_patients: int = 60, *, seed: int = 1, today: dt.date) -> list[PatientPlan]:
    return [patient_plan(i, seed=seed, today=today) for i in range(n_patients)]
