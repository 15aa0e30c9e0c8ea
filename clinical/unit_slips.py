"""Unit slips (RULES.md section 5), pure: a number typed against the wrong unit.

``unit_suspect`` finds a value that is implausibly high in the unit chosen but ordinary in
another accepted unit of the analyte (triglycerides 250 with mmol/L chosen: 250 mg/dL is
2.82 mmol/L). ``plausible_elsewhere`` finds, for a value the hard limits refuse, another
accepted unit in which it is plausible (HbA1c 7.2 against mmol/mol: 7.2 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from clinical import catalogue, formatting


@dataclass(frozen=True)
class Alternative:
    value: Decimal  # as typed
    unit: str  # the other accepted unit
    canonical: Decimal  # the value read in that unit, canonical

    def text(self, analyte: str) -> str:
        """ "250 mg/dL (2.82 mmol/L)": as typed in the other unit, and canonical."""
        info = catalogue.ANALYTES[analyte]
        typed = f"{formatting.typed(self.value)} {self.unit}"
        if catalogue.normalise_unit(self.unit) == catalogue.normalise_unit(info.canonical_unit):
            return typed
        shown = formatting.format_value(self.canonical, analyte=analyte, unit=info.canonical_unit)
        return f"{typed} ({shown} {info.canonical_unit})"


def _inside(rng: catalogue.Range, canonical: Decimal) -> bool:
    if rng.high is None:
        return False
    if rng.low is None:
        return rng.high * catalogue.UNIT_SUSPECT_LOW_FRACTION <= canonical <= rng.high * catalogue.UNIT_SUSPECT_HIGH_X
    return rng.low <= canonical <= rng.high


def unit_suspect(analyte: str, value: Decimal, unit: str) -> Alternative | None:
    """The other reading of a unit-suspect value, or None when the value is not suspect."""
    info = catalogue.ANALYTES.get(analyte)
    conv = info.unit(unit) if info is not None else None
    if info is None or conv is None:
        return None
    rng = info.default_reference("unknown")
    if rng is None or rng.high is None:
        return None
    if conv.to_canonical(value) <= catalogue.UNIT_SUSPECT_X_ULN * rng.high:
        return None
    for other in info.units:
        if other.unit == conv.unit:
            continue
        canonical = other.to_canonical(value)
        if _inside(rng, canonical):
            return Alternative(value, other.unit, canonical)
    return None


def plausible_elsewhere(analyte: str, value: Decimal, unit: str) -> Alternative | None:
    """Another accepted unit in which a value the hard limits refuse is plausible."""
    info = catalogue.ANALYTES.get(analyte)
    conv = info.unit(unit) if info is not None else None
    if info is None or conv is None or value < 0:
        return None
    for other in info.units:
        if other.unit == conv.unit:
            continue
        canonical = other.to_canonical(value)
        if info.hard_limits.contains(canonical):
            return Alternative(value, other.unit, canonical)
    return None
