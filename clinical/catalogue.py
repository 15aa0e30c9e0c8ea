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
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import cached_property, lru_cache

# --------------------------------------------------------------------------------------
# Units and conversions
# --------------------------------------------------------------------------------------

CONVENTIONAL = "conventional"
SI = "si"
UNIT_SYSTEMS = (CONVENTIONAL, SI)

# Conversions are computed with 34 significant digits whatever the caller's decimal
# context; one context object, not a fresh ``localcontext()`` per value (a dashboard
# converts thousands of values per page).
_EXACT = Context(prec=34)


@dataclass(frozen=True)
class UnitConversion:
    """How one accepted unit maps onto the analyte's canonical unit."""

    unit: str  # preferred spelling, as shown to users
    factor: Decimal  # canonical = value * factor + offset
    offset: Decimal = Decimal(0)
    ucum: str = ""  # UCUM code where it differs from the spelling
    aliases: tuple[str, ...] = ()

    def to_canonical(self, value: Decimal) -> Decimal:
        return _EXACT.add(_EXACT.multiply(Decimal(value), self.factor), self.offset)

    def from_canonical(self, canonical: Decimal) -> Decimal:
        """The exact inverse of :meth:`to_canonical`."""
        return _EXACT.divide(_EXACT.subtract(Decimal(canonical), self.offset), self.factor)


def accepted_unit(
    unit: str, factor: str | Decimal = "1", offset: str = "0", ucum: str = "", aliases: tuple[str, ...] = ()
) -> UnitConversion:
    """An accepted unit of an analyte (``factor`` as text keeps the published digits exact)."""
    return UnitConversion(
        unit, Decimal(factor) if isinstance(factor, str) else factor, Decimal(offset), ucum, tuple(aliases)
    )


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
    # The range for samples not known to be fasting (when the default is fasting-only).
    non_fasting_reference: Range | None = None
    # The default upper limit is "below" (< 1.7 mmol/L): a value exactly at it is high.
    reference_high_exclusive: bool = False
    source: str = ""

    # -- units ---------------------------------------------------------------------
    def unit(self, spelling: str) -> UnitConversion | None:
        return self._unit_keys.get(normalise_unit(spelling))

    @cached_property
    def _unit_keys(self) -> dict[str, UnitConversion]:
        """Every accepted spelling's key -> its unit (the first unit that accepts it)."""
        keys: dict[str, UnitConversion] = {}
        for u in self.units:
            for spelling in (u.unit, u.ucum or u.unit, *u.aliases):
                keys.setdefault(normalise_unit(spelling), u)
        return keys

    @property
    def accepted_units(self) -> tuple[str, ...]:
        return tuple(u.unit for u in self.units)

    def display_unit(self, system: str) -> UnitConversion:
        return self.unit(self.display.get(system) or self.canonical_unit)  # type: ignore[return-value]

    def to_canonical(self, value: Decimal, unit: str) -> Decimal:
        conv = self.unit(unit)
        if conv is None:
            raise KeyError(unit)
        return conv.to_canonical(Decimal(value))

    def from_canonical(self, canonical: Decimal, unit: str) -> Decimal:
        conv = self.unit(unit)
        if conv is None:
            raise KeyError(unit)
        return conv.from_canonical(Decimal(canonical))

    def limits_in(self, unit: str) -> Range:
        """The hard limits expressed in ``unit`` (bounds sorted, factors are positive)."""
        conv = self.unit(unit)
        assert conv is not None
        lo = conv.from_canonical(self.hard_limits.low) if self.hard_limits.low is not None else None
        hi = conv.from_canonical(self.hard_limits.high) if self.hard_limits.high is not None else None
        return Range(lo, hi)

    def default_reference(self, sex: str) -> Range | None:
        """The default range for a sex. For sex other than male/female of a sex-specific
        analyte, the lower of the sex upper limits and no lower limit (RULES.md 5: the more
        cautious upper limit, on the chart and in the rules alike)."""
        found = self.reference.get(sex) or self.reference.get("any")
        if found is not None or not self.reference:
            return found
        highs = [r.high for r in self.reference.values() if r.high is not None]
        return Range(None, min(highs)) if highs else None

    def decimals_for(self, unit: str) -> int:
        return self.decimals.get(unit, 2)


_MICRO = {"\u00b5": "u", "\u03bc": "u"}


@lru_cache(maxsize=4096)
def normalise_unit(spelling: str) -> str:
    """Case- and micro-sign-insensitive key for a unit spelling."""
    s = unicodedata.normalize("NFKC", spelling or "").strip()
    s = "".join(_MICRO.get(ch, ch) for ch in s)
    return s.replace(" ", "").lower()


_ENZYME_UNITS = (
    accepted_unit("U/L", ucum="U/L", aliases=("IU/L",)),
    accepted_unit("ukat/L", factor="60", ucum="ukat/L"),
)
_MGDL_CHOL = "0.02586"

ANALYTES: dict[str, Analyte] = {
    a.code: a
    for a in [
        Analyte(
            code="leptin",
            name="Leptin",
            loinc=("21365-2",),
            canonical_unit="ng/mL",
            units=(accepted_unit("ng/mL"), accepted_unit("ug/L")),
            display={CONVENTIONAL: "ng/mL", SI: "ug/L"},
            hard_limits=Range(Decimal(0), Decimal(500)),
            reference={
                "male": Range(Decimal("0.5"), Decimal("12.5")),
                "female": Range(Decimal("4.7"), Decimal("23.7")),
            },
            decimals={"ng/mL": 1, "ug/L": 1},
            source="RULES.md 1; LIPODYSTROPHY.md 2.1 [S34] (lean-adult ranges)",
        ),
        Analyte(
            code="triglycerides",
            name="Triglycerides",
            loinc=("2571-8",),
            canonical_unit="mmol/L",
            units=(accepted_unit("mmol/L"), accepted_unit("mg/dL", factor="0.01129")),
            display={CONVENTIONAL: "mg/dL", SI: "mmol/L"},
            hard_limits=Range(Decimal("0.05"), Decimal(340)),
            reference={"any": Range(None, Decimal("1.7"))},
            reference_high_exclusive=True,  # "< 1.7 mmol/L": 1.7 itself is flagged H (RULES.md 5)
            decimals={"mg/dL": 0, "mmol/L": 2},
            loinc_si=("14927-8",),
            source="RULES.md 1; [S35][S36]",
        ),
        Analyte(
            code="total_cholesterol",
            name="Total cholesterol",
            loinc=("2093-3",),
            canonical_unit="mmol/L",
            units=(accepted_unit("mmol/L"), accepted_unit("mg/dL", factor=_MGDL_CHOL)),
            display={CONVENTIONAL: "mg/dL", SI: "mmol/L"},
            hard_limits=Range(Decimal("0.5"), Decimal(80)),
            reference={},
            decimals={"mg/dL": 0, "mmol/L": 2},
            loinc_si=("14647-2",),
            source="RULES.md 1",
        ),
        Analyte(
            code="hdl_cholesterol",
            name="HDL cholesterol",
            loinc=("2085-9",),
            canonical_unit="mmol/L",
            units=(accepted_unit("mmol/L"), accepted_unit("mg/dL", factor=_MGDL_CHOL)),
            display={CONVENTIONAL: "mg/dL", SI: "mmol/L"},
            hard_limits=Range(Decimal("0.05"), Decimal(10)),
            reference={},
            decimals={"mg/dL": 0, "mmol/L": 2},
            loinc_si=("14646-4",),
            source="RULES.md 1",
        ),
        Analyte(
            code="ldl_cholesterol",
            name="LDL cholesterol",
            loinc=("13457-7", "18262-6"),
            canonical_unit="mmol/L",
            units=(accepted_unit("mmol/L"), accepted_unit("mg/dL", factor=_MGDL_CHOL)),
            display={CONVENTIONAL: "mg/dL", SI: "mmol/L"},
            hard_limits=Range(Decimal(0), Decimal(50)),
            reference={},
            decimals={"mg/dL": 0, "mmol/L": 2},
            loinc_si=("22748-8",),
            source="RULES.md 1 (13457-7 calculated, 18262-6 direct)",
        ),
        Analyte(
            code="glucose",
            name="Glucose",
            loinc=("2345-7", "1558-6"),
            canonical_unit="mmol/L",
            units=(accepted_unit("mmol/L"), accepted_unit("mg/dL", factor="0.0555")),
            display={CONVENTIONAL: "mg/dL", SI: "mmol/L"},
            hard_limits=Range(Decimal("0.5"), Decimal(110)),
            reference={"any": Range(Decimal("3.9"), Decimal("5.5"))},
            decimals={"mg/dL": 0, "mmol/L": 1},
            loinc_si=("14749-6",),
            fasting_reference_only=True,
            # Not known to be fasting: upper 140 mg/dL (7.77 mmol/L with the catalogue's
            # 0.0555), no lower default beyond the alert thresholds (RULES.md 5; ADA [S40]).
            non_fasting_reference=Range(None, Decimal("7.77")),
            source="RULES.md 1; ADA [S40][S55]; 1558-6 = fasting glucose",
        ),
        Analyte(
            code="hba1c",
            name="HbA1c",
            loinc=("4548-4",),
            canonical_unit="%",
            units=(accepted_unit("%"), accepted_unit("mmol/mol", factor="0.0915", offset="2.15")),
            display={CONVENTIONAL: "%", SI: "mmol/mol"},
            hard_limits=Range(Decimal(3), Decimal(20)),
            reference={"any": Range(Decimal("4.0"), Decimal("5.6"))},
            decimals={"%": 1, "mmol/mol": 0},
            loinc_si=("59261-8",),
            source="RULES.md 1; NGSP/IFCC master equation (% = 0.0915 x mmol/mol + 2.15)",
        ),
        Analyte(
            code="insulin",
            name="Insulin",
            loinc=("20448-7", "27873-9"),
            canonical_unit="uIU/mL",
            units=(
                accepted_unit("uIU/mL", ucum="u[IU]/mL", aliases=("mU/L", "mIU/L")),
                accepted_unit("pmol/L", factor=Decimal(1) / Decimal(6)),
            ),
            display={CONVENTIONAL: "uIU/mL", SI: "pmol/L"},
            hard_limits=Range(Decimal(0), Decimal(3000)),
            reference={},
            decimals={"uIU/mL": 1, "pmol/L": 0},
            source="RULES.md 1; ARUP factor 6.0 [S41]",
        ),
        Analyte(
            code="c_peptide",
            name="C-peptide",
            loinc=("1986-9",),
            canonical_unit="ng/mL",
            units=(accepted_unit("ng/mL"), accepted_unit("nmol/L", factor=Decimal(1) / Decimal("0.331"))),
            display={CONVENTIONAL: "ng/mL", SI: "nmol/L"},
            hard_limits=Range(Decimal(0), Decimal(50)),
            reference={},
            decimals={"ng/mL": 2, "nmol/L": 2},
            source="RULES.md 1 [S43]",
        ),
        Analyte(
            code="alt",
            name="ALT",
            loinc=("1742-6",),
            canonical_unit="U/L",
            units=_ENZYME_UNITS,
            display={CONVENTIONAL: "U/L", SI: "U/L"},
            hard_limits=Range(Decimal(0), Decimal(20000)),
            reference={"male": Range(None, Decimal(41)), "female": Range(None, Decimal(33))},
            decimals={"U/L": 0, "ukat/L": 2},
            source="RULES.md 1 [S37]",
        ),
        Analyte(
            code="ast",
            name="AST",
            loinc=("1920-8",),
            canonical_unit="U/L",
            units=_ENZYME_UNITS,
            display={CONVENTIONAL: "U/L", SI: "U/L"},
            hard_limits=Range(Decimal(0), Decimal(20000)),
            reference={"male": Range(None, Decimal(40)), "female": Range(None, Decimal(32))},
            decimals={"U/L": 0, "ukat/L": 2},
            source="RULES.md 1 [S38]",
        ),
        Analyte(
            code="ggt",
            name="GGT",
            loinc=("2324-2",),
            canonical_unit="U/L",
            units=_ENZYME_UNITS,
            display={CONVENTIONAL: "U/L", SI: "U/L"},
            hard_limits=Range(Decimal(0), Decimal(20000)),
            reference={"male": Range(None, Decimal(61)), "female": Range(None, Decimal(36))},
            decimals={"U/L": 0, "ukat/L": 2},
            source="RULES.md 1 [S39]",
        ),
        Analyte(
            code="bilirubin_total",
            name="Total bilirubin",
            loinc=("1975-2",),
            canonical_unit="umol/L",
            units=(accepted_unit("umol/L"), accepted_unit("mg/dL", factor="17.1")),
            display={CONVENTIONAL: "mg/dL", SI: "umol/L"},
            hard_limits=Range(Decimal(0), Decimal(1000)),
            reference={"any": Range(None, Decimal(21))},
            decimals={"mg/dL": 1, "umol/L": 0},
            loinc_si=("14631-6",),
            source="RULES.md 1",
        ),
        Analyte(
            code="creatinine",
            name="Creatinine",
            loinc=("2160-0",),
            canonical_unit="umol/L",
            units=(accepted_unit("umol/L"), accepted_unit("mg/dL", factor="88.4")),
            display={CONVENTIONAL: "mg/dL", SI: "umol/L"},
            hard_limits=Range(Decimal(5), Decimal(3000)),
            reference={},
            decimals={"mg/dL": 2, "umol/L": 0},
            loinc_si=("14682-9",),
            source="RULES.md 1",
        ),
        Analyte(
            code="egfr",
            name="eGFR",
            loinc=("98979-8",),
            canonical_unit="mL/min/1.73m2",
            units=(accepted_unit("mL/min/1.73m2", ucum="mL/min/{1.73_m2}"),),
            display={CONVENTIONAL: "mL/min/1.73m2", SI: "mL/min/1.73m2"},
            hard_limits=Range(Decimal(0), Decimal(250)),
            reference={},
            decimals={"mL/min/1.73m2": 0},
            source="RULES.md 1 (CKD-EPI 2021) [S44]",
        ),
        Analyte(
            code="urine_acr",
            name="Urine albumin/creatinine ratio",
            loinc=("9318-7",),
            canonical_unit="mg/g",
            units=(accepted_unit("mg/g"), accepted_unit("mg/mmol", factor="8.84")),
            display={CONVENTIONAL: "mg/g", SI: "mg/mmol"},
            hard_limits=Range(Decimal(0), Decimal(50000)),
            reference={},
            decimals={"mg/g": 0, "mg/mmol": 1},
            source="RULES.md 1 [S45]",
        ),
        Analyte(
            code="lipase",
            name="Lipase",
            loinc=("3040-3",),
            canonical_unit="U/L",
            units=_ENZYME_UNITS,
            display={CONVENTIONAL: "U/L", SI: "U/L"},
            hard_limits=Range(Decimal(0), Decimal(50000)),
            reference={},
            decimals={"U/L": 0, "ukat/L": 2},
            source="RULES.md 1 [S46]",
        ),
    ]
}

ANALYTE_CHOICES = [(a.code, a.name) for a in ANALYTES.values()]


# LOINC codes whose meaning includes the fasting state: a result reported under one of
# them is fasting whatever the file's fasting column leaves blank (RULES.md 5).
FASTING_LOINC = frozenset({"1558-6"})  # Fasting glucose [Mass/volume] in Serum or Plasma


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

    @cached_property
    def canonical(self) -> Decimal:
        if self.analyte is None:
            return self.value
        return ANALYTES[self.analyte].to_canonical(self.value, self.unit)


THRESHOLDS: dict[str, Threshold] = {
    t.code: t
    for t in [
        Threshold(
            code="TG_VERY_HIGH",
            analyte="triglycerides",
            value=Decimal(500),
            unit="mg/dL",
            source="ATP III very high [S35]",
        ),
        Threshold(
            code="TG_SEVERE",
            analyte="triglycerides",
            value=Decimal(1000),
            unit="mg/dL",
            source="Endocrine Society 2012 severe [S35]",
        ),
        Threshold(
            code="HYPERGLYCEMIA_SEVERE",
            analyte="glucose",
            value=Decimal(600),
            unit="mg/dL",
            source="HHS threshold, ADA consensus on hyperglycaemic crises (Umpierrez 2024); RULES.md 2",
        ),
        Threshold(
            code="HYPOGLYCEMIA",
            analyte="glucose",
            value=Decimal(54),
            unit="mg/dL",
            source="ADA level 2 hypoglycaemia [S55]",
        ),
        Threshold(
            code="LOW_GLUCOSE",
            analyte="glucose",
            value=Decimal(70),
            unit="mg/dL",
            source="ADA level 1 hypoglycaemia [S55]",
        ),
        Threshold(
            code="TG_AFTER_STOP",
            analyte="triglycerides",
            value=Decimal(500),
            unit="mg/dL",
            source="label: monitor TG on stop [S17][S25]",
        ),
        Threshold(
            code="LOSS_OF_EFFECT_TG_FLOOR",
            analyte="triglycerides",
            value=Decimal(200),
            unit="mg/dL",
            source="RULES.md 2 [S72]",
        ),
        # Multiples and windows without a unit.
        Threshold(
            code="LIVER_ENZYME_X_ULN", analyte=None, value=Decimal(3), unit="x ULN", source="FDA DILI guidance [S50]"
        ),
        Threshold(
            code="HYS_LAW_BILIRUBIN_X_ULN", analyte=None, value=Decimal(2), unit="x ULN", source="Hy's law [S50]"
        ),
        Threshold(code="HYS_LAW_WINDOW_DAYS", analyte=None, value=Decimal(7), unit="days", source="RULES.md 2"),
        Threshold(
            code="LOSS_OF_EFFECT_MIN_COURSE_DAYS", analyte=None, value=Decimal(180), unit="days", source="RULES.md 2"
        ),
        Threshold(
            code="LOSS_OF_EFFECT_HBA1C_RISE",
            analyte=None,
            value=Decimal("1.0"),
            unit="%-points",
            source="boxed warning [S17]",
        ),
        Threshold(code="LOSS_OF_EFFECT_TG_RISE_PCT", analyte=None, value=Decimal(50), unit="%", source="RULES.md 2"),
        Threshold(code="TG_AFTER_STOP_WINDOW_DAYS", analyte=None, value=Decimal(90), unit="days", source="RULES.md 2"),
        Threshold(code="WEIGHT_LOSS_PCT", analyte=None, value=Decimal(10), unit="%", source="label/SmPC [S25][S57]"),
        Threshold(code="WEIGHT_LOSS_WINDOW_DAYS", analyte=None, value=Decimal(180), unit="days", source="RULES.md 2"),
        Threshold(
            code="MONITORING_WINDOW_DAYS", analyte=None, value=Decimal(183), unit="days", source="2016 guideline [S22]"
        ),
        Threshold(code="UNIT_ERROR_RATIO", analyte=None, value=Decimal(20), unit="x median", source="RULES.md 2"),
        Threshold(code="UNIT_ERROR_MIN_PRIOR", analyte=None, value=Decimal(3), unit="values", source="RULES.md 2"),
    ]
}


# --------------------------------------------------------------------------------------
# Trends and metreleptin response (RULES.md section 3)
# --------------------------------------------------------------------------------------

DAYS_PER_MONTH = Decimal("30.44")
# Unit slips (RULES.md 5): a value above UNIT_SUSPECT_X_ULN x the upper default limit in
# the unit chosen, that would lie inside the default range read in another accepted unit
# (for an upper-only range: between UNIT_SUSPECT_LOW_FRACTION and UNIT_SUSPECT_HIGH_X of
# the limit), needs an explicit confirmation.
UNIT_SUSPECT_X_ULN = Decimal(10)
UNIT_SUSPECT_LOW_FRACTION = Decimal("0.25")
UNIT_SUSPECT_HIGH_X = Decimal(2)

BASELINE_WINDOW_DAYS = 90
MONTH_WINDOWS = {3: 30, 6: 30, 12: 60}  # month -> +/- days
SLOPE_WINDOW_DAYS = 730
SLOPE_MIN_VALUES = 3

# (class, HbA1c change <= x %-points, or TG percent change <= y %), checked in order.
RESPONSE_CLASSES = (
    ("strong_responder", Decimal("-2.0"), Decimal(-40)),
    ("responder", Decimal("-1.0"), Decimal(-30)),
)
RESPONSE_SOURCE = "NIH metreleptin studies, Brown/Chan 2018 [S68]"

# The month-12 class is provisional until start + 425 days (12 x 30.44 + the 60-day
# window, RULES.md section 3) has passed or the course ended.
MONTH12_WINDOW_CLOSED_DAYS = 425


# --------------------------------------------------------------------------------------
# Reference lines drawn on the patient dashboard. Defined in conventional units and
# converted with the analyte's own factor, like the alert thresholds.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceLine:
    analyte: str
    value: Decimal
    unit: str
    label: str
    source: str

    @property
    def canonical(self) -> Decimal:
        return ANALYTES[self.analyte].to_canonical(self.value, self.unit)


DASHBOARD_LINES: dict[str, tuple[ReferenceLine, ...]] = {
    "triglycerides": (
        ReferenceLine("triglycerides", Decimal(150), "mg/dL", "upper normal", "ATP III normal < 150 mg/dL [S35]"),
        ReferenceLine("triglycerides", Decimal(500), "mg/dL", "very high", "ATP III very high [S35]"),
        ReferenceLine(
            "triglycerides", Decimal(1000), "mg/dL", "pancreatitis risk", "Endocrine Society 2012 severe [S35]"
        ),
    ),
    "hba1c": (ReferenceLine("hba1c", Decimal(7), "%", "target", "ADA general adult target < 7 % [S54]"),),
}


# --------------------------------------------------------------------------------------
# Metreleptin label dose table (RULES.md section 4; US label and EU SmPC [S25][S57])
# --------------------------------------------------------------------------------------

METRELEPTIN_MG_PER_ML = Decimal(5)
METRELEPTIN_WEIGHT_CUTOFF_KG = Decimal(40)
# Above these a metreleptin dose is refused as impossible (a typing slip); anything
# between the label maximum and these is recorded and raises METRELEPTIN_DOSE_ABOVE_MAX,
# because refusing a real overdose would hide it (RULES.md 5, "Plausibility of doses";
# the NIH studies' highest dose was 0.24 mg/kg/day [S53]).
METRELEPTIN_HARD_MAX_MG_PER_KG = Decimal(1)
METRELEPTIN_HARD_MAX_MG_PER_DAY = Decimal(40)
# With no weight on or before a dose's date, the first weight this many days after it
# stands in (RULES.md 5).
METRELEPTIN_WEIGHT_FALLBACK_DAYS = 30


@dataclass(frozen=True)
class LabelDoseRow:
    start: Decimal
    step_low: Decimal
    step_high: Decimal
    maximum: Decimal
    per_kg: bool


METRELEPTIN_LABEL = {
    "light": LabelDoseRow(
        start=Decimal("0.06"), step_low=Decimal("0.02"), step_high=Decimal("0.02"), maximum=Decimal("0.13"), per_kg=True
    ),
    "male": LabelDoseRow(
        start=Decimal("2.5"), step_low=Decimal("1.25"), step_high=Decimal("2.5"), maximum=Decimal(10), per_kg=False
    ),
    "female": LabelDoseRow(
        start=Decimal(5), step_low=Decimal("1.25"), step_high=Decimal("2.5"), maximum=Decimal(10), per_kg=False
    ),
}


def metreleptin_label_row(weight_kg: Decimal, sex: str) -> LabelDoseRow:
    """The label row for a weight and sex. Other/unknown sex above 40 kg: the male row
    (the lower starting dose), a conservative choice the clinician can raise."""
    if Decimal(weight_kg) <= METRELEPTIN_WEIGHT_CUTOFF_KG:
        return METRELEPTIN_LABEL["light"]
    return METRELEPTIN_LABEL["female" if sex == "female" else "male"]


@dataclass(frozen=True)
class DoseSuggestion:
    mg: Decimal
    ml: Decimal
    mg_per_kg: Decimal
    max_mg: Decimal
    row: LabelDoseRow


def metreleptin_start_dose(weight_kg: Decimal, sex: str) -> DoseSuggestion:
    w = Decimal(weight_kg)
    row = metreleptin_label_row(w, sex)
    mg = (row.start * w) if row.per_kg else row.start
    max_mg = metreleptin_max_mg(w, sex)
    mg = mg.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return DoseSuggestion(
        mg=mg,
        ml=(mg / METRELEPTIN_MG_PER_ML).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP),
        mg_per_kg=(mg / w).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP),
        max_mg=max_mg.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        row=row,
    )


def metreleptin_max_mg(weight_kg: Decimal, sex: str = "male") -> Decimal:
    """The label's maximum daily dose in mg: <= 40 kg: 0.13 mg/kg/day; > 40 kg: 10 mg/day."""
    w = Decimal(weight_kg)
    row = metreleptin_label_row(w, sex)
    return row.maximum * w if row.per_kg else row.maximum


def metreleptin_above_max(daily_mg: Decimal, weight_kg: Decimal) -> bool:
    """Above the label maximum for this weight (recorded, and alerted; never refused)."""
    return Decimal(daily_mg) > metreleptin_max_mg(weight_kg)


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
            code="metreleptin",
            name="Metreleptin",
            drug_class="leptin analogue",
            units=("mg/day",),
            hard_max={"mg/day": METRELEPTIN_HARD_MAX_MG_PER_DAY},
            per_kg_unit="mg/kg/day",
            codes={"NCIT": "C170171", "RxCUI": "1491629"},
            source="[S17][S25][S67]",
        ),
        Drug(
            code="insulin",
            name="Insulin (any)",
            drug_class="insulin",
            units=("U/day",),
            hard_max={"U/day": Decimal(5000)},
            per_kg_unit="U/kg/day",
            hypoglycemia_risk=True,
            source="[S51][S52]",
        ),
        Drug(
            code="metformin",
            name="Metformin",
            drug_class="biguanide",
            units=("mg/day",),
            hard_max={"mg/day": Decimal(3000)},
            codes={"CHEBI": "6801"},
            source="[S22]",
        ),
        Drug(
            code="sulfonylurea",
            name="Sulfonylurea",
            drug_class="sulfonylurea",
            units=("mg/day",),
            hard_max={"mg/day": Decimal(500)},
            hypoglycemia_risk=True,
            source="[S25][S74]",
        ),
        Drug(
            code="pioglitazone",
            name="Pioglitazone (TZD)",
            drug_class="thiazolidinedione",
            units=("mg/day",),
            hard_max={"mg/day": Decimal(45)},
            source="[S74]",
        ),
        Drug(
            code="glp1_ra",
            name="GLP-1 receptor agonist",
            drug_class="GLP-1 receptor agonist",
            units=("mg/week", "mg/day"),
            hard_max={"mg/week": Decimal(20), "mg/day": Decimal(20)},
            source="[S2]",
        ),
        Drug(
            code="sglt2i",
            name="SGLT2 inhibitor",
            drug_class="SGLT2 inhibitor",
            units=("mg/day",),
            hard_max={"mg/day": Decimal(300)},
            source="[S75]",
        ),
        Drug(
            code="statin",
            name="Statin",
            drug_class="statin",
            units=("mg/day",),
            hard_max={"mg/day": Decimal(80)},
            codes={"CHEBI": "39548"},
            source="[S22]",
        ),
        Drug(
            code="fibrate",
            name="Fibrate",
            drug_class="fibrate",
            units=("mg/day",),
            hard_max={"mg/day": Decimal(1200)},
            codes={"CHEBI": "5001"},
            source="[S36][S2]",
        ),
        Drug(
            code="omega3",
            name="Omega-3 fatty acids",
            drug_class="omega-3",
            units=("g/day",),
            hard_max={"g/day": Decimal(10)},
            source="[S36]",
        ),
        Drug(
            code="volanesorsen",
            name="Volanesorsen",
            drug_class="APOC3 antisense",
            units=("mg/week",),
            hard_max={"mg/week": Decimal(600)},
            source="[S2]",
        ),
        Drug(
            code="oral_estrogen",
            name="Oral estrogen",
            drug_class="estrogen",
            units=("mg/day",),
            hard_max={"mg/day": Decimal(10)},
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
            code="CGL1",
            name="Congenital generalized lipodystrophy type 1",
            group="CGL",
            pattern="generalized",
            acquired=False,
            genes=("AGPAT2",),
            inheritance="AR",
            orpha="",
            omim="608594",
            mondo="MONDO:0012071",
        ),
        Subtype(
            code="CGL2",
            name="Congenital generalized lipodystrophy type 2",
            group="CGL",
            pattern="generalized",
            acquired=False,
            genes=("BSCL2",),
            inheritance="AR",
            orpha="",
            omim="269700",
            mondo="MONDO:0010020",
        ),
        Subtype(
            code="CGL3",
            name="Congenital generalized lipodystrophy type 3",
            group="CGL",
            pattern="generalized",
            acquired=False,
            genes=("CAV1",),
            inheritance="AR",
            orpha="",
            omim="612526",
            mondo="MONDO:0012923",
        ),
        Subtype(
            code="CGL4",
            name="Congenital generalized lipodystrophy type 4",
            group="CGL",
            pattern="generalized",
            acquired=False,
            genes=("CAVIN1",),
            inheritance="AR",
            orpha="",
            omim="613327",
            mondo="MONDO:0013225",
        ),
        Subtype(
            code="CGL_OTHER",
            name="Congenital generalized lipodystrophy, other or unknown gene",
            group="CGL",
            pattern="generalized",
            acquired=False,
            genes=(),
            inheritance="AR",
            orpha="528",
            omim="",
            mondo="MONDO:0018883",
            note="group codes ORPHA:528 / MONDO:0018883",
        ),
        Subtype(
            code="FPLD1",
            name="Familial partial lipodystrophy type 1 (Kobberling)",
            group="FPLD",
            pattern="partial",
            acquired=False,
            genes=(),
            inheritance="",
            orpha="79084",
            omim="608600",
            mondo="MONDO:0012072",
        ),
        Subtype(
            code="FPLD2",
            name="Familial partial lipodystrophy type 2 (Dunnigan)",
            group="FPLD",
            pattern="partial",
            acquired=False,
            genes=("LMNA",),
            inheritance="AD",
            orpha="2348",
            omim="151660",
            mondo="MONDO:0007906",
        ),
        Subtype(
            code="FPLD3",
            name="Familial partial lipodystrophy type 3",
            group="FPLD",
            pattern="partial",
            acquired=False,
            genes=("PPARG",),
            inheritance="AD",
            orpha="79083",
            omim="604367",
            mondo="MONDO:0011448",
        ),
        Subtype(
            code="FPLD4",
            name="Familial partial lipodystrophy type 4",
            group="FPLD",
            pattern="partial",
            acquired=False,
            genes=("PLIN1",),
            inheritance="AD",
            orpha="280356",
            omim="613877",
            mondo="MONDO:0013478",
        ),
        Subtype(
            code="FPLD5",
            name="Familial partial lipodystrophy type 5",
            group="FPLD",
            pattern="partial",
            acquired=False,
            genes=("CIDEC",),
            inheritance="AR",
            orpha="435651",
            omim="615238",
            mondo="MONDO:0014098",
        ),
        Subtype(
            code="FPLD6",
            name="Familial partial lipodystrophy type 6",
            group="FPLD",
            pattern="partial",
            acquired=False,
            genes=("LIPE",),
            inheritance="AR",
            orpha="435660",
            omim="615980",
            mondo="MONDO:0014431",
        ),
        Subtype(
            code="FPLD7",
            name="Familial partial lipodystrophy type 7",
            group="FPLD",
            pattern="partial",
            acquired=False,
            genes=("CAV1",),
            inheritance="AD",
            orpha="",
            omim="606721",
            mondo="",
        ),
        Subtype(
            code="FPLD_AKT2",
            name="AKT2-related familial partial lipodystrophy",
            group="FPLD",
            pattern="partial",
            acquired=False,
            genes=("AKT2",),
            inheritance="AD",
            orpha="",
            omim="",
            mondo="MONDO:0019192",
        ),
        Subtype(
            code="FPLD_MFN2",
            name="MFN2-related lipodystrophy",
            group="FPLD",
            pattern="partial",
            acquired=False,
            genes=("MFN2",),
            inheritance="AR",
            orpha="",
            omim="",
            mondo="",
        ),
        Subtype(
            code="FPLD_OTHER",
            name="Familial partial lipodystrophy, other or unknown gene",
            group="FPLD",
            pattern="partial",
            acquired=False,
            genes=(),
            inheritance="",
            orpha="98306",
            omim="",
            mondo="MONDO:0020088",
            note="group codes ORPHA:98306 / MONDO:0020088",
        ),
        Subtype(
            code="AGL",
            name="Acquired generalized lipodystrophy (Lawrence syndrome)",
            group="AGL",
            pattern="generalized",
            acquired=True,
            genes=(),
            inheritance="",
            orpha="79086",
            omim="",
            mondo="MONDO:0019193",
        ),
        Subtype(
            code="APL",
            name="Acquired partial lipodystrophy (Barraquer-Simons)",
            group="APL",
            pattern="partial",
            acquired=True,
            genes=(),
            inheritance="",
            orpha="79087",
            omim="608709",
            mondo="MONDO:0012104",
            note="ORPHA and OMIM from secondary sources only (LIPODYSTROPHY.md 1.4)",
        ),
        Subtype(code="HIV_LD", name="HIV/ART-associated lipodystrophy", group="HIV", pattern="partial", acquired=True),
        Subtype(
            code="LOCAL_LIPOHYPERTROPHY",
            name="Injection-site lipohypertrophy",
            group="LOCALIZED",
            pattern="localized",
            acquired=True,
            note="ICD-10-CM E65 seen only in a coding blog; E88.1 used",
        ),
        Subtype(
            code="LOCAL_LIPOATROPHY",
            name="Injection-site lipoatrophy",
            group="LOCALIZED",
            pattern="localized",
            acquired=True,
        ),
        Subtype(
            code="MADA",
            name="Mandibuloacral dysplasia type A",
            group="PROGEROID",
            pattern="partial",
            acquired=False,
            genes=("LMNA",),
            inheritance="AR",
            orpha="2457",
            omim="248370",
            mondo="",
            icd10="Q87.5",
        ),
        Subtype(
            code="MADB",
            name="Mandibuloacral dysplasia type B",
            group="PROGEROID",
            pattern="generalized",
            acquired=False,
            genes=("ZMPSTE24",),
            inheritance="AR",
            orpha="2457",
            omim="608612",
            mondo="",
            icd10="Q87.5",
        ),
        Subtype(
            code="HGPS",
            name="Hutchinson-Gilford progeria",
            group="PROGEROID",
            pattern="generalized",
            acquired=False,
            genes=("LMNA",),
            inheritance="AD",
            orpha="740",
            omim="176670",
            mondo="",
        ),
        Subtype(
            code="MDP",
            name="MDP syndrome (POLD1)",
            group="PROGEROID",
            pattern="partial",
            acquired=False,
            genes=("POLD1",),
            inheritance="AD",
        ),
        Subtype(
            code="SHORT",
            name="SHORT syndrome (PIK3R1)",
            group="PROGEROID",
            pattern="partial",
            acquired=False,
            genes=("PIK3R1",),
            inheritance="AD",
        ),
        Subtype(
            code="CANDLE",
            name="Autoinflammatory lipodystrophy (CANDLE/PRAAS)",
            group="PROGEROID",
            pattern="partial",
            acquired=False,
            genes=("PSMB8",),
            inheritance="AR",
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
    "weight_kg": Range(Decimal("0.3"), Decimal(400)),
    "height_cm": Range(Decimal(20), Decimal(250)),
    "waist_cm": Range(Decimal(10), Decimal(300)),
    "hip_cm": Range(Decimal(10), Decimal(300)),
    "systolic_bp": Range(Decimal(40), Decimal(300)),
    "diastolic_bp": Range(Decimal(20), Decimal(200)),
    "skinfold_mm": Range(Decimal(0), Decimal(100)),
    "fat_pct": Range(Decimal(0), Decimal(80)),
    "liver_pdff_pct": Range(Decimal(0), Decimal(100)),
    "liver_stiffness_kpa": Range(Decimal(0), Decimal(100)),
    "liver_cap_dbm": Range(Decimal(100), Decimal(450)),
}


# --------------------------------------------------------------------------------------
# Data-entry aids (not clinical rules: what the forms offer or double-check)
# --------------------------------------------------------------------------------------

# The one-click panel of the visit form: the analytes a lipodystrophy follow-up visit
# measures (metabolic control, liver, leptin), after the 2016 multi-society practice
# guideline's monitoring recommendations [S22].
LIPODYSTROPHY_PANEL = ("triglycerides", "hba1c", "glucose", "alt", "ast", "leptin")

# An adult's height changes little between visits: a difference above this from the last
# recorded height is more often a typing slip (165 for 156) than growth or shrinkage, so
# the visit form asks for a confirmation. Adult = this age or older at the visit.
HEIGHT_CONFIRM_CM = Decimal(5)
ADULT_AGE_YEARS = 18

# An alert raised on evidence older than this (days between the evidence's date and the
# day the alert was raised) is "historic": back-entered history, not news. It is shown on
# the chart and in the API but kept out of the worklist and the header count.
HISTORIC_EVIDENCE_DAYS = 180
