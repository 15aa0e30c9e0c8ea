"""Reference flags of lab values, and a lab row ready to show (pure: no database).

One function decides the flag every screen shows next to a lab value: ``L``, ``H`` or
``critical``. Ranges and thresholds come from ``clinical.catalogue``; a range supplied by
the lab on the result wins over the catalogue default. Critical follows the alert rules
that RULES.md section 2 marks critical for a single value (``TG_SEVERE``,
``HYPOGLYCEMIA``), using the same canonical thresholds as the alert engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from clinical import catalogue, formatting

LOW = "L"
HIGH = "H"
CRITICAL = "critical"
NORMAL = ""

FLAG_LABELS = {LOW: "Low", HIGH: "High", CRITICAL: "Critical", NORMAL: ""}

# Single-value critical rules: (threshold code, direction). The numbers live in
# catalogue.THRESHOLDS; "high" fires at >= the threshold, "low" below it (RULES.md 2).
CRITICAL_RULES: tuple[tuple[str, str], ...] = (
    ("TG_SEVERE", "high"),
    ("HYPOGLYCEMIA", "low"),
    ("HYPERGLYCEMIA_SEVERE", "high"),  # fasting or not: flagged critical whatever the state
)


def _critical(analyte: str, canonical: Decimal) -> bool:
    for code, direction in CRITICAL_RULES:
        threshold = catalogue.THRESHOLDS[code]
        if threshold.analyte != analyte:
            continue
        limit = threshold.canonical
        if (direction == "high" and canonical >= limit) or (direction == "low" and canonical < limit):
            return True
    return False


def reference_range(
    *,
    analyte: str,
    sex: str,
    fasting: bool | None,
    unit: str = "",
    reference_low: Decimal | None = None,
    reference_high: Decimal | None = None,
) -> catalogue.Range | None:
    """The range a value is compared with, in canonical units.

    A lab-supplied range (given in the result's own ``unit``) wins; otherwise the
    catalogue default for the sex, which for fasting-only ranges applies only to samples
    known to be fasting.
    """
    info = catalogue.ANALYTES[analyte]
    if reference_low is not None or reference_high is not None:
        conv = info.unit(unit) if unit else None
        if conv is None:
            conv = info.unit(info.canonical_unit)
        assert conv is not None
        low = conv.to_canonical(Decimal(reference_low)) if reference_low is not None else None
        high = conv.to_canonical(Decimal(reference_high)) if reference_high is not None else None
        return catalogue.Range(low, high)
    if info.fasting_reference_only and fasting is not True:
        return info.non_fasting_reference
    return info.default_reference(sex)


def lab_flag(
    *,
    analyte: str,
    canonical: Decimal,
    sex: str = "unknown",
    fasting: bool | None = None,
    unit: str = "",
    reference_low: Decimal | None = None,
    reference_high: Decimal | None = None,
) -> str:
    """``critical``, ``L``, ``H`` or ``""`` for one value in canonical units."""
    value = Decimal(canonical)
    if _critical(analyte, value):
        return CRITICAL
    rng = reference_range(
        analyte=analyte,
        sex=sex,
        fasting=fasting,
        unit=unit,
        reference_low=reference_low,
        reference_high=reference_high,
    )
    if rng is None:
        return NORMAL
    if rng.low is not None and value < rng.low:
        return LOW
    lab_range = reference_low is not None or reference_high is not None
    exclusive = catalogue.ANALYTES[analyte].reference_high_exclusive and not lab_range
    if rng.high is not None and (value > rng.high or (exclusive and value == rng.high)):
        return HIGH
    return NORMAL


@dataclass(frozen=True)
class ShownLab:
    """A lab value ready for a template: text, unit, flag and where it comes from."""

    analyte: str
    name: str
    text: str
    unit: str
    flag: str
    collected_on: object
    public_id: object = None
    reported: str = ""  # value and unit as reported, when they differ from the display

    @property
    def flag_label(self) -> str:
        return FLAG_LABELS[self.flag]


def show_lab(result, *, sex: str, system: str) -> ShownLab:
    """Display form of a LabResult-like object (analyte, canonical_value, unit, value,
    fasting, reference_low/high, collected_on, public_id)."""
    text, unit = formatting.to_display(result.canonical_value, analyte=result.analyte, system=system)
    flag = lab_flag(
        analyte=result.analyte,
        canonical=result.canonical_value,
        sex=sex,
        fasting=result.fasting,
        unit=result.unit,
        reference_low=result.reference_low,
        reference_high=result.reference_high,
    )
    reported = ""
    if catalogue.normalise_unit(result.unit) != catalogue.normalise_unit(unit):
        reported = f"{formatting.plain(result.value)} {result.unit}"
    return ShownLab(
        analyte=result.analyte,
        name=catalogue.ANALYTES[result.analyte].name,
        text=text,
        unit=unit,
        flag=flag,
        collected_on=result.collected_on,
        public_id=getattr(result, "public_id", None),
        reported=reported,
    )
