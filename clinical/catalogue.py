"""The clinical catalogue: every clinical number of the registry, in one place.

Analytes (LOINC, units, conversions, plausibility limits, reference ranges), drugs,
lipodystrophy subtypes, the alert thresholds, the metreleptin label dose table and the
trend / response definitions. Everything here is data; the functions only read it.
The policy behind the numbers is ``shared/domain/RULES.md``; the facts and their sources
are in ``shared/domain/LIPODYSTROPHY.md`` (source ids such as [S35] refer to its list).

Conversion convention: ``canonical = value * factor + offset``, computed in Decimal, so
that thresholds defined in conventional units compare exactly in either unit system.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

D = Decimal

# --------------------------------------------------------------------------------------
# Units and conversions
# --------------------------------------------------------------------------------------

CONVENTIONAL = "conventional"
SI = "si"
UNIT_SYSTEMS = (CONVENTIONAL, SI)


@dataclass(frozen=True)
class UnitConversion:
    """How one accepted unit maps onto the analyte's canonical unit."""

    unit: str  # preferred spelling, as shown to users
    factor: Decimal  # canonical = value * factor + offset
    offset: Decimal = D(0)
    ucum: str = ""  # UCUM code where it differs from the spelling
    aliases: tuple[str, ...] = ()

    def to_canonical(self, value: Decimal) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = 34
            return D(value) * self.factor + self.offset

    def from_canonical(self, canonical: Decimal) -> Decimal:
        """The exact inverse of :meth:`to_canonical`."""
        with localcontext() as ctx:
            ctx.prec = 34
            return (D(canonical) - self.offset) / self.factor


def _u(unit: str, factor: str | Decimal = "1", offset: str = "0", ucum: str = "", aliases=()):
    return UnitConversion(unit, D(factor) if isinstance(factor, str) else factor, D(offset), ucum, tuple(aliases))


@dataclass(frozen=True)
class Range:
    low: Decimal | None = None
    high: Decimal | None = None

    def contains(self, value: Decimal) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


@dataclass(frozen=True)
class Analyte:
    code: str
    name: str
    loinc: tuple[str, ...]  # first = the conventional-unit code; all are import aliases
    canonical_unit: str
    units: tuple[UnitConversion, ...]  # the first is the canonical unit (factor 1)
    display: Mapping[str, str]  # unit system -> unit shown
    hard_limits: Range  # in canonical unit; outside = refused as implausible
    reference: Mapping[str, Range] = field(default_factory=dict)  # sex|"any" -> range (canonical)
    decimals: Mapping[str, int] = field(default_factory=dict)  # display unit -> decimals
    loinc_si: tuple[str, ...] = ()  # LOINC codes for results reported in SI units
    fasting_reference_only: bool = False  # default range applies to fasting samples only
    source: str = ""

    # -- units ---------------------------------------------------------------------
    def unit(self, spelling: str) -> UnitConversion | None:
        key = normalise_unit(spelling)
        for u in self.units:
            if key in {normalise_unit(u.unit), normalise_unit(u.ucum or u.unit), *map(normalise_unit, u.aliases)}:
                return u
        return None

    @property
    def accepted_units(self) -> tuple[str, ...]:
        return tuple(u.unit for u in self.units)

    def display_unit(self, system: str) -> UnitConversion:
        return self.unit(self.display.get(system) or self.canonical_unit)  # type: ignore[return-value]

    def to_canonical(self, value: Decimal, unit: str) -> Decimal:
        conv = self.unit(unit)
        if conv is None:
            raise KeyError(unit)
        return conv.to_canonical(D(value))

    def from_canonical(self, canonical: Decimal, unit: str) -> Decimal:
        conv = self.unit(unit)
        if conv is None:
            raise KeyError(unit)
        return conv.from_canonical(D(canonical))

    def limits_in(self, unit: str) -> Range:
        """The hard limits expressed in ``unit`` (bounds sorted, factors are positive)."""
        conv = self.unit(unit)
        assert conv is not None
        lo = conv.from_canonical(self.hard_limits.low) if self.hard_limits.low is not None else None
        hi = conv.from_canonical(self.hard_limits.high) if self.hard_limits.high is not None else None
        return Range(lo, hi)

    def default_reference(self, sex: str) -> Range | None:
        return self.reference.get(sex) or self.reference.get("any")

    def decimals_for(self, unit: str) -> int:
        return self.decimals.get(unit, 2)


_MICRO = {"\u00b5": "u", "\u03bc": "u"}


def normalise_unit(spelling: str) -> str:
    """Case- and micro-sign-insensitive key for a unit spelling."""
    s = unicodedata.normalize("NFKC", spelling or "").strip()
    s = "".join(_MICRO.get(ch, ch) for ch in s)
    return s.replace(" ", "").lower()


_ENZYME_UNITS = (_u("U/L", ucum="U/L", aliases=("IU/L",)), _u("ukat/L", "60", ucum="ukat/L"))
_MGDL_CHOL = "0.02586"

ANALYTES: dict[str, Analyte] = {
    a.code: a
    for a in [
        Analyte(
            "leptin",
            "Leptin",
            ("21365-2",),
            "ng/mL",
            (_u("ng/mL"), _u("ug/L")),
            {CONVENTIONAL: "ng/mL", SI: "ug/L"},
            Range(D(0), D(500)),
            {"male": Range(D("0.5"), D("12.5")), "female": Range(D("4.7"), D("23.7"))},
            {"ng/mL": 1, "ug/L": 1},
            source="RULES.md 1; LIPODYSTROPHY.md 2.1 [S34] (lean-adult ranges)",
        ),
        Analyte(
            "triglycerides",
            "Triglycerides",
            ("2571-8",),
            "mmol/L",
            (_u("mmol/L"), _u("mg/dL", "0.01129")),
            {CONVENTIONAL: "mg/dL", SI: "mmol/L"},
            Range(D("0.05"), D(340)),
            {"any": Range(None, D("1.7"))},
            {"mg/dL": 0, "mmol/L": 2},
            loinc_si=("14927-8",),
            source="RULES.md 1; [S35][S36]",
        ),
        Analyte(
            "total_cholesterol",
            "Total cholesterol",
            ("2093-3",),
            "mmol/L",
            (_u("mmol/L"), _u("mg/dL", _MGDL_CHOL)),
            {CONVENTIONAL: "mg/dL", SI: "mmol/L"},
            Range(D("0.5"), D(80)),
            {},
            {"mg/dL": 0, "mmol/L": 2},
            loinc_si=("14647-2",),
            source="RULES.md 1",
        ),
        Analyte(
            "hdl_cholesterol",
            "HDL cholesterol",
            ("2085-9",),
            "mmol/L",
            (_u("mmol/L"), _u("mg/dL", _MGDL_CHOL)),
            {CONVENTIONAL: "mg/dL", SI: "mmol/L"},
            Range(D("0.05"), D(10)),
            {},
            {"mg/dL": 0, "mmol/L": 2},
            loinc_si=("14646-4",),
            source="RULES.md 1",
        ),
        Analyte(
            "ldl_cholesterol",
            "LDL cholesterol",
            ("13457-7", "18262-6"),
            "mmol/L",
            (_u("mmol/L"), _u("mg/dL", _MGDL_CHOL)),
            {CONVENTIONAL: "mg/dL", SI: "mmol/L"},
            Range(D(0), D(50)),
            {},
            {"mg/dL": 0, "mmol/L": 2},
            loinc_si=("22748-8",),
            source="RULES.md 1 (13457-7 calculated, 18262-6 direct)",
        ),
        Analyte(
            "glucose",
            "Glucose",
            ("2345-7", "1558-6"),
            "mmol/L",
            (_u("mmol/L"), _u("mg/dL", "0.0555")),
            {CONVENTIONAL: "mg/dL", SI: "mmol/L"},
            Range(D("0.5"), D(110)),
            {"any": Range(D("3.9"), D("5.5"))},
            {"mg/dL": 0, "mmol/L": 1},
            loinc_si=("14749-6",),
            fasting_reference_only=True,
            source="RULES.md 1; ADA [S40][S55]; 1558-6 = fasting glucose",
        ),
        Analyte(
            "hba1c",
            "HbA1c",
            ("4548-4",),
            "%",
            (_u("%"), _u("mmol/mol", "0.0915", "2.15")),
            {CONVENTIONAL: "%", SI: "mmol/mol"},
            Range(D(3), D(20)),
            {"any": Range(D("4.0"), D("5.6"))},
            {"%": 1, "mmol/mol": 0},
            loinc_si=("59261-8",),
            source="RULES.md 1; NGSP/IFCC master equation (% = 0.0915 x mmol/mol + 2.15)",
        ),
        Analyte(
            "insulin",
            "Insulin",
            ("20448-7", "27873-9"),
            "uIU/mL",
            (_u("uIU/mL", ucum="u[IU]/mL", aliases=("mU/L", "mIU/L")), _u("pmol/L", D(1) / D(6))),
            {CONVENTIONAL: "uIU/mL", SI: "pmol/L"},
            Range(D(0), D(3000)),
            {},
            {"uIU/mL": 1, "pmol/L": 0},
            source="RULES.md 1; ARUP factor 6.0 [S41]",
        ),
        Analyte(
            "c_peptide",
            "C-peptide",
            ("1986-9",),
            "ng/mL",
            (_u("ng/mL"), _u("nmol/L", D(1) / D("0.331"))),
            {CONVENTIONAL: "ng/mL", SI: "nmol/L"},
            Range(D(0), D(50)),
            {},
            {"ng/mL": 2, "nmol/L": 2},
            source="RULES.md 1 [S43]",
        ),
        Analyte(
            "alt",
            "ALT",
            ("1742-6",),
            "U/L",
            _ENZYME_UNITS,
            {CONVENTIONAL: "U/L", SI: "U/L"},
            Range(D(0), D(20000)),
            {"male": Range(None, D(41)), "female": Range(None, D(33))},
            {"U/L": 0, "ukat/L": 2},
            source="RULES.md 1 [S37]",
        ),
        Analyte(
            "ast",
            "AST",
            ("1920-8",),
            "U/L",
            _ENZYME_UNITS,
            {CONVENTIONAL: "U/L", SI: "U/L"},
            Range(D(0), D(20000)),
            {"male": Range(None, D(40)), "female": Range(None, D(32))},
            {"U/L": 0, "ukat/L": 2},
            source="RULES.md 1 [S38]",
        ),
        Analyte(
            "ggt",
            "GGT",
            ("2324-2",),
            "U/L",
            _ENZYME_UNITS,
            {CONVENTIONAL: "U/L", SI: "U/L"},
            Range(D(0), D(20000)),
            {"male": Range(None, D(61)), "female": Range(None, D(36))},
            {"U/L": 0, "ukat/L": 2},
            source="RULES.md 1 [S39]",
        ),
        Analyte(
            "bilirubin_total",
            "Total bilirubin",
            ("1975-2",),
            "umol/L",
            (_u("umol/L"), _u("mg/dL", "17.1")),
            {CONVENTIONAL: "mg/dL", SI: "umol/L"},
            Range(D(0), D(1000)),
            {"any": Range(None, D(21))},
            {"mg/dL": 1, "umol/L": 0},
            loinc_si=("14631-6",),
            source="RULES.md 1",
        ),
        Analyte(
            "creatinine",
            "Creatinine",
            ("2160-0",),
            "umol/L",
            (_u("umol/L"), _u("mg/dL", "88.4")),
            {CONVENTIONAL: "mg/dL", SI: "umol/L"},
            Range(D(5), D(3000)),
            {},
            {"mg/dL": 2, "umol/L": 0},
            loinc_si=("14682-9",),
            source="RULES.md 1",
        ),
        Analyte(
            "egfr",
            "eGFR",
            ("98979-8",),
            "mL/min/1.73m2",
            (_u("mL/min/1.73m2", ucum="mL/min/{1.73_m2}"),),
            {CONVENTIONAL: "mL/min/1.73m2", SI: "mL/min/1.73m2"},
            Range(D(0), D(250)),
            {},
            {"mL/min/1.73m2": 0},
            source="RULES.md 1 (CKD-EPI 2021) [S44]",
        ),
        Analyte(
            "urine_acr",
            "Urine albumin/creatinine ratio",
            ("9318-7",),
            "mg/g",
            (_u("mg/g"), _u("mg/mmol", "8.84")),
            {CONVENTIONAL: "mg/g", SI: "mg/mmol"},
            Range(D(0), D(50000)),
            {},
            {"mg/g": 0, "mg/mmol": 1},
            source="RULES.md 1 [S45]",
        ),
        Analyte(
            "lipase",
            "Lipase",
            ("3040-3",),
            "U/L",
            _ENZYME_UNITS,
            {CONVENTIONAL: "U/L", SI: "U/L"},
            Range(D(0), D(50000)),
            {},
            {"U/L": 0, "ukat/L": 2},
            source="RULES.md 1 [S46]",
        ),
    ]
}

ANALYTE_CHOICES = [(a.code, a.name) for a in ANALYTES.values()]


def analyte_by_code_or_loinc(key: str) -> Analyte | None:
    """Analyte by its registry code (case-insensitive) or by any of its LOINC codes."""
    k = (key or "").strip()
    if k.lower() in ANALYTES:
        return ANALYTES[k.lower()]
    for a in ANALYTES.values():
        if k in a.loinc or k in a.loinc_si:
            return a
    return None


# --------------------------------------------------------------------------------------
# Alert thresholds (RULES.md section 2). Defined in conventional units; the canonical
# value is derived with the analyte's own conversion so both unit systems agree.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    code: str
    analyte: str | None
    value: Decimal
    unit: str
    source: str

    @property
    def canonical(self) -> Decimal:
        if self.analyte is None:
            return self.value
        return ANALYTES[self.analyte].to_canonical(self.value, self.unit)


THRESHOLDS: dict[str, Threshold] = {
    t.code: t
    for t in [
        Threshold("TG_VERY_HIGH", "triglycerides", D(500), "mg/dL", "ATP III very high [S35]"),
        Threshold("TG_SEVERE", "triglycerides", D(1000), "mg/dL", "Endocrine Society 2012 severe [S35]"),
        Threshold("HYPOGLYCEMIA", "glucose", D(54), "mg/dL", "ADA level 2 hypoglycaemia [S55]"),
        Threshold("LOW_GLUCOSE", "glucose", D(70), "mg/dL", "ADA level 1 hypoglycaemia [S55]"),
        Threshold("TG_AFTER_STOP", "triglycerides", D(500), "mg/dL", "label: monitor TG on stop [S17][S25]"),
        Threshold("LOSS_OF_EFFECT_TG_FLOOR", "triglycerides", D(200), "mg/dL", "RULES.md 2 [S72]"),
        # Multiples and windows without a unit.
        Threshold("LIVER_ENZYME_X_ULN", None, D(3), "x ULN", "FDA DILI guidance [S50]"),
        Threshold("HYS_LAW_BILIRUBIN_X_ULN", None, D(2), "x ULN", "Hy's law [S50]"),
        Threshold("HYS_LAW_WINDOW_DAYS", None, D(7), "days", "RULES.md 2"),
        Threshold("LOSS_OF_EFFECT_MIN_COURSE_DAYS", None, D(180), "days", "RULES.md 2"),
        Threshold("LOSS_OF_EFFECT_HBA1C_RISE", None, D("1.0"), "%-points", "boxed warning [S17]"),
        Threshold("LOSS_OF_EFFECT_TG_RISE_PCT", None, D(50), "%", "RULES.md 2"),
        Threshold("TG_AFTER_STOP_WINDOW_DAYS", None, D(90), "days", "RULES.md 2"),
        Threshold("WEIGHT_LOSS_PCT", None, D(10), "%", "label/SmPC [S25][S57]"),
        Threshold("WEIGHT_LOSS_WINDOW_DAYS", None, D(180), "days", "RULES.md 2"),
        Threshold("MONITORING_WINDOW_DAYS", None, D(183), "days", "2016 guideline [S22]"),
        Threshold("UNIT_ERROR_RATIO", None, D(20), "x median", "RULES.md 2"),
        Threshold("UNIT_ERROR_MIN_PRIOR", None, D(3), "values", "RULES.md 2"),
    ]
}


# --------------------------------------------------------------------------------------
# Trends and metreleptin response (RULES.md section 3)
# --------------------------------------------------------------------------------------

DAYS_PER_MONTH = D("30.44")
BASELINE_WINDOW_DAYS = 90
MONTH_WINDOWS = {3: 30, 6: 30, 12: 60}  # month -> +/- days
SLOPE_WINDOW_DAYS = 730
SLOPE_MIN_VALUES = 3

# (class, HbA1c change <= x %-points, or TG percent change <= y %), checked in order.
RESPONSE_CLASSES = (
    ("strong_responder", D("-2.0"), D(-40)),
    ("responder", D("-1.0"), D(-30)),
)
RESPONSE_SOURCE = "NIH metreleptin studies, Brown/Chan 2018 [S68]"


# --------------------------------------------------------------------------------------
# Metreleptin label dose table (RULES.md section 4; US label and EU SmPC [S25][S57])
# --------------------------------------------------------------------------------------

METRELEPTIN_MG_PER_ML = D(5)
METRELEPTIN_WEIGHT_CUTOFF_KG = D(40)
METRELEPTIN_HARD_MAX_MG_PER_KG = D("0.30")  # above: refused as implausible (NIH max 0.24) [S53]


@dataclass(frozen=True)
class DoseRow:
    start: Decimal
    step_low: Decimal
    step_high: Decimal
    maximum: Decimal
    per_kg: bool


METRELEPTIN_LABEL = {
    "light": DoseRow(D("0.06"), D("0.02"), D("0.02"), D("0.13"), per_kg=True),
    "male": DoseRow(D("2.5"), D("1.25"), D("2.5"), D(10), per_kg=False),
    "female": DoseRow(D(5), D("1.25"), D("2.5"), D(10), per_kg=False),
}


def metreleptin_label_row(weight_kg: Decimal, sex: str) -> DoseRow:
    """The label row for a weight and sex. Other/unknown sex above 40 kg: the male row
    (the lower starting dose), a conservative choice the clinician can raise."""
    if D(weight_kg) <= METRELEPTIN_WEIGHT_CUTOFF_KG:
        return METRELEPTIN_LABEL["light"]
    return METRELEPTIN_LABEL["female" if sex == "female" else "male"]


@dataclass(frozen=True)
class DoseSuggestion:
    mg: Decimal
    ml: Decimal
    mg_per_kg: Decimal
    max_mg: Decimal
    row: DoseRow


def metreleptin_start_dose(weight_kg: Decimal, sex: str) -> DoseSuggestion:
    w = D(weight_kg)
    row = metreleptin_label_row(w, sex)
    mg = (row.start * w) if row.per_kg else row.start
    max_mg = (row.maximum * w) if row.per_kg else row.maximum
    mg = mg.quantize(D("0.01"))
    return DoseSuggestion(
        mg=mg,
        ml=(mg / METRELEPTIN_MG_PER_ML).quantize(D("0.001")),
        mg_per_kg=(mg / w).quantize(D("0.001")),
        max_mg=max_mg.quantize(D("0.01")),
        row=row,
    )


def metreleptin_above_max(daily_mg: Decimal, weight_kg: Decimal) -> bool:
    """Label maximum: <= 40 kg: 0.13 mg/kg/day; > 40 kg: 10 mg/day."""
    w = D(weight_kg)
    row = metreleptin_label_row(w, "male")
    limit = row.maximum * w if row.per_kg else row.maximum
    return D(daily_mg) > limit


# --------------------------------------------------------------------------------------
# Drugs (LIPODYSTROPHY.md section 5)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drug:
    code: str
    name: str
    drug_class: str
    units: tuple[str, ...]  # accepted daily-dose units; the first is the default
    hard_max: Mapping[str, Decimal] = field(default_factory=dict)  # unit -> refuse above
    per_kg_unit: str = ""  # shown per kg of body weight, e.g. "mg/kg/day"
    hypoglycemia_risk: bool = False  # insulin / secretagogues (HYPO_RISK_AT_START)
    contraindicated: bool = False
    codes: Mapping[str, str] = field(default_factory=dict)
    source: str = ""


DRUGS: dict[str, Drug] = {
    d.code: d
    for d in [
        Drug(
            "metreleptin",
            "Metreleptin",
            "leptin analogue",
            ("mg/day",),
            {},
            "mg/kg/day",
            codes={"NCIT": "C170171", "RxCUI": "1491629"},
            source="[S17][S25][S67]",
        ),
        Drug(
            "insulin",
            "Insulin (any)",
            "insulin",
            ("U/day",),
            {"U/day": D(5000)},
            "U/kg/day",
            hypoglycemia_risk=True,
            source="[S51][S52]",
        ),
        Drug(
            "metformin",
            "Metformin",
            "biguanide",
            ("mg/day",),
            {"mg/day": D(3000)},
            codes={"CHEBI": "6801"},
            source="[S22]",
        ),
        Drug(
            "sulfonylurea",
            "Sulfonylurea",
            "sulfonylurea",
            ("mg/day",),
            {"mg/day": D(500)},
            hypoglycemia_risk=True,
            source="[S25][S74]",
        ),
        Drug("pioglitazone", "Pioglitazone (TZD)", "thiazolidinedione", ("mg/day",), {"mg/day": D(45)}, source="[S74]"),
        Drug(
            "glp1_ra",
            "GLP-1 receptor agonist",
            "GLP-1 receptor agonist",
            ("mg/week", "mg/day"),
            {"mg/week": D(20), "mg/day": D(20)},
            source="[S2]",
        ),
        Drug("sglt2i", "SGLT2 inhibitor", "SGLT2 inhibitor", ("mg/day",), {"mg/day": D(300)}, source="[S75]"),
        Drug("statin", "Statin", "statin", ("mg/day",), {"mg/day": D(80)}, codes={"CHEBI": "39548"}, source="[S22]"),
        Drug(
            "fibrate",
            "Fibrate",
            "fibrate",
            ("mg/day",),
            {"mg/day": D(1200)},
            codes={"CHEBI": "5001"},
            source="[S36][S2]",
        ),
        Drug("omega3", "Omega-3 fatty acids", "omega-3", ("g/day",), {"g/day": D(10)}, source="[S36]"),
        Drug("volanesorsen", "Volanesorsen", "APOC3 antisense", ("mg/week",), {"mg/week": D(600)}, source="[S2]"),
        Drug(
            "oral_estrogen",
            "Oral estrogen",
            "estrogen",
            ("mg/day",),
            {"mg/day": D(10)},
            contraindicated=True,
            source="2016 guideline: contraindicated in LD [S22]",
        ),
    ]
}

DRUG_CHOICES = [(d.code, d.name) for d in DRUGS.values()]
DOSE_UNITS = sorted({u for d in DRUGS.values() for u in d.units})


# --------------------------------------------------------------------------------------
# Lipodystrophy subtypes (LIPODYSTROPHY.md section 1; only verified codes are filled)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subtype:
    code: str
    name: str
    group: str  # CGL, FPLD, AGL, APL, HIV, LOCALIZED, PROGEROID
    pattern: str  # generalized / partial / localized
    acquired: bool
    genes: tuple[str, ...] = ()
    inheritance: str = ""
    orpha: str = ""
    omim: str = ""
    mondo: str = ""
    icd10: str = "E88.1"
    note: str = ""


SUBTYPE_GROUPS = {
    "CGL": "Congenital generalized lipodystrophy",
    "FPLD": "Familial partial lipodystrophy",
    "AGL": "Acquired generalized lipodystrophy",
    "APL": "Acquired partial lipodystrophy",
    "HIV": "HIV/ART-associated lipodystrophy",
    "LOCALIZED": "Localized (injection-site) lipodystrophy",
    "PROGEROID": "Progeroid / syndromic lipodystrophy",
}

SUBTYPES: dict[str, Subtype] = {
    s.code: s
    for s in [
        Subtype(
            "CGL1",
            "Congenital generalized lipodystrophy type 1",
            "CGL",
            "generalized",
            False,
            ("AGPAT2",),
            "AR",
            "",
            "608594",
            "MONDO:0012071",
        ),
        Subtype(
            "CGL2",
            "Congenital generalized lipodystrophy type 2",
            "CGL",
            "generalized",
            False,
            ("BSCL2",),
            "AR",
            "",
            "269700",
            "MONDO:0010020",
        ),
        Subtype(
            "CGL3",
            "Congenital generalized lipodystrophy type 3",
            "CGL",
            "generalized",
            False,
            ("CAV1",),
            "AR",
            "",
            "612526",
            "MONDO:0012923",
        ),
        Subtype(
            "CGL4",
            "Congenital generalized lipodystrophy type 4",
            "CGL",
            "generalized",
            False,
            ("CAVIN1",),
            "AR",
            "",
            "613327",
            "MONDO:0013225",
        ),
        Subtype(
            "CGL_OTHER",
            "Congenital generalized lipodystrophy, other or unknown gene",
            "CGL",
            "generalized",
            False,
            (),
            "AR",
            "528",
            "",
            "MONDO:0018883",
            note="group codes ORPHA:528 / MONDO:0018883",
        ),
        Subtype(
            "FPLD1",
            "Familial partial lipodystrophy type 1 (Kobberling)",
            "FPLD",
            "partial",
            False,
            (),
            "",
            "79084",
            "608600",
            "MONDO:0012072",
        ),
        Subtype(
            "FPLD2",
            "Familial partial lipodystrophy type 2 (Dunnigan)",
            "FPLD",
            "partial",
            False,
            ("LMNA",),
            "AD",
            "2348",
            "151660",
            "MONDO:0007906",
        ),
        Subtype(
            "FPLD3",
            "Familial partial lipodystrophy type 3",
            "FPLD",
            "partial",
            False,
            ("PPARG",),
            "AD",
            "79083",
            "604367",
            "MONDO:0011448",
        ),
        Subtype(
            "FPLD4",
            "Familial partial lipodystrophy type 4",
            "FPLD",
            "partial",
            False,
            ("PLIN1",),
            "AD",
            "280356",
            "613877",
            "MONDO:0013478",
        ),
        Subtype(
            "FPLD5",
            "Familial partial lipodystrophy type 5",
            "FPLD",
            "partial",
            False,
            ("CIDEC",),
            "AR",
            "435651",
            "615238",
            "MONDO:0014098",
        ),
        Subtype(
            "FPLD6",
            "Familial partial lipodystrophy type 6",
            "FPLD",
            "partial",
            False,
            ("LIPE",),
            "AR",
            "435660",
            "615980",
            "MONDO:0014431",
        ),
        Subtype(
            "FPLD7",
            "Familial partial lipodystrophy type 7",
            "FPLD",
            "partial",
            False,
            ("CAV1",),
            "AD",
            "",
            "606721",
            "",
        ),
        Subtype(
            "FPLD_AKT2",
            "AKT2-related familial partial lipodystrophy",
            "FPLD",
            "partial",
            False,
            ("AKT2",),
            "AD",
            "",
            "",
            "MONDO:0019192",
        ),
        Subtype("FPLD_MFN2", "MFN2-related lipodystrophy", "FPLD", "partial", False, ("MFN2",), "AR", "", "", ""),
        Subtype(
            "FPLD_OTHER",
            "Familial partial lipodystrophy, other or unknown gene",
            "FPLD",
            "partial",
            False,
            (),
            "",
            "98306",
            "",
            "MONDO:0020088",
            note="group codes ORPHA:98306 / MONDO:0020088",
        ),
        Subtype(
            "AGL",
            "Acquired generalized lipodystrophy (Lawrence syndrome)",
            "AGL",
            "generalized",
            True,
            (),
            "",
            "79086",
            "",
            "MONDO:0019193",
        ),
        Subtype(
            "APL",
            "Acquired partial lipodystrophy (Barraquer-Simons)",
            "APL",
            "partial",
            True,
            (),
            "",
            "79087",
            "608709",
            "MONDO:0012104",
            note="ORPHA and OMIM from secondary sources only (LIPODYSTROPHY.md 1.4)",
        ),
        Subtype("HIV_LD", "HIV/ART-associated lipodystrophy", "HIV", "partial", True),
        Subtype(
            "LOCAL_LIPOHYPERTROPHY",
            "Injection-site lipohypertrophy",
            "LOCALIZED",
            "localized",
            True,
            note="ICD-10-CM E65 seen only in a coding blog; E88.1 used",
        ),
        Subtype("LOCAL_LIPOATROPHY", "Injection-site lipoatrophy", "LOCALIZED", "localized", True),
        Subtype(
            "MADA",
            "Mandibuloacral dysplasia type A",
            "PROGEROID",
            "partial",
            False,
            ("LMNA",),
            "AR",
            "2457",
            "248370",
            "",
            "Q87.5",
        ),
        Subtype(
            "MADB",
            "Mandibuloacral dysplasia type B",
            "PROGEROID",
            "generalized",
            False,
            ("ZMPSTE24",),
            "AR",
            "2457",
            "608612",
            "",
            "Q87.5",
        ),
        Subtype(
            "HGPS",
            "Hutchinson-Gilford progeria",
            "PROGEROID",
            "generalized",
            False,
            ("LMNA",),
            "AD",
            "740",
            "176670",
            "",
        ),
        Subtype("MDP", "MDP syndrome (POLD1)", "PROGEROID", "partial", False, ("POLD1",), "AD"),
        Subtype("SHORT", "SHORT syndrome (PIK3R1)", "PROGEROID", "partial", False, ("PIK3R1",), "AD"),
        Subtype(
            "CANDLE", "Autoinflammatory lipodystrophy (CANDLE/PRAAS)", "PROGEROID", "partial", False, ("PSMB8",), "AR"
        ),
    ]
}

SUBTYPE_CHOICES = [(s.code, s.name) for s in SUBTYPES.values()]


# --------------------------------------------------------------------------------------
# HPO terms the registry uses (LIPODYSTROPHY.md 1.7, verified IDs only)
# --------------------------------------------------------------------------------------

HPO_TERMS: dict[str, str] = {
    "HP:0009125": "Lipodystrophy",
    "HP:0008887": "Adipose tissue loss",
    "HP:0003635": "Loss of subcutaneous adipose tissue in limbs",
    "HP:0100578": "Lipoatrophy",
    "HP:0007552": "Abnormal subcutaneous fat tissue distribution",
    "HP:0000855": "Insulin resistance",
    "HP:0000842": "Hyperinsulinemia",
    "HP:0000819": "Diabetes mellitus",
    "HP:0002155": "Hypertriglyceridemia",
    "HP:0003124": "Hypercholesterolemia",
    "HP:0003233": "Decreased HDL cholesterol concentration",
    "HP:0001397": "Hepatic steatosis",
    "HP:0002240": "Hepatomegaly",
    "HP:0001394": "Cirrhosis",
    "HP:0000956": "Acanthosis nigricans",
    "HP:0002591": "Polyphagia",
    "HP:0001733": "Pancreatitis",
    "HP:0000991": "Xanthomatosis",
    "HP:0003712": "Skeletal muscle hypertrophy",
    "HP:0001015": "Prominent superficial veins",
    "HP:0000998": "Hypertrichosis",
    "HP:0001007": "Hirsutism",
    "HP:0000147": "Polycystic ovaries",
    "HP:0000858": "Irregular menstruation",
    "HP:0008665": "Clitoral hypertrophy",
    "HP:0000822": "Hypertension",
    "HP:0002621": "Atherosclerosis",
    "HP:0001639": "Hypertrophic cardiomyopathy",
    "HP:0001635": "Congestive heart failure",
    "HP:0011675": "Arrhythmia",
    "HP:0000093": "Proteinuria",
    "HP:0000097": "Focal segmental glomerulosclerosis",
    "HP:0001249": "Intellectual disability",
    "HP:0002797": "Osteolysis",
    "HP:0003198": "Myopathy",
    "HP:0003236": "Elevated circulating creatine kinase concentration",
}


# --------------------------------------------------------------------------------------
# Body measurements (LIPODYSTROPHY.md section 6): plausibility limits for visit fields
# --------------------------------------------------------------------------------------

SKINFOLD_SITES = (
    ("triceps", "Triceps"),
    ("biceps", "Biceps"),
    ("subscapular", "Subscapular"),
    ("suprailiac", "Suprailiac"),
    ("anterior_thigh", "Anterior thigh"),
    ("calf", "Calf"),
)

VITAL_LIMITS: dict[str, Range] = {
    "weight_kg": Range(D("0.3"), D(400)),
    "height_cm": Range(D(20), D(250)),
    "waist_cm": Range(D(10), D(300)),
    "hip_cm": Range(D(10), D(300)),
    "systolic_bp": Range(D(40), D(300)),
    "diastolic_bp": Range(D(20), D(200)),
    "skinfold_mm": Range(D(0), D(100)),
    "fat_pct": Range(D(0), D(80)),
    "liver_pdff_pct": Range(D(0), D(100)),
    "liver_stiffness_kpa": Range(D(0), D(100)),
    "liver_cap_dbm": Range(D(100), D(450)),
}
