"""The one place clinical numbers become text (pure: no database).

RULES.md section 5: a number a user sees is rounded half-up to the display precision of
its analyte and unit (``catalogue.Analyte.decimals``), on every surface alike: pages,
charts, alert messages, API display values and exports. Thresholds quoted in a message go
through the same function as the value they are compared with, so a message never reads
"5.64 mmol/L, at or above 5.645 mmol/L" while the chart shows 5.65.

Numbers that are not lab values (a dose in mg/day, a percentage, a ratio) use
:func:`format_number` with the places the caller names; numbers echoed back to the user
exactly as stored or typed use :func:`plain` / :func:`typed`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from clinical import catalogue

__all__ = [
    "as_float",
    "display_conversion",
    "display_formatter",
    "format_canonical",
    "format_limit",
    "format_measure",
    "format_number",
    "format_value",
    "plain",
    "round_half_up",
    "to_display",
    "typed",
]


def round_half_up(value: Decimal | str | int, places: int) -> Decimal:
    """``value`` rounded half-up (500.5 -> 501, never banker's rounding) to ``places``."""
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def format_value(value: Decimal | str | int, *, analyte: str, unit: str) -> str:
    """``value`` (already in ``unit``) as text with the precision of the analyte in that unit.

    Trailing zeros the precision asks for are kept ("5.60 mmol/L" lines up with "5.65").
    """
    places = catalogue.ANALYTES[analyte].decimals_for(unit)
    return format(round_half_up(value, places), "f")


def format_limit(value: Decimal | str | int, *, analyte: str, unit: str) -> str:
    """A limit quoted in a message ("accepted range 9-1982 mg/dL"): the analyte's display
    precision in ``unit``, trailing zeros dropped, so a converted limit never reads as a
    raw conversion (9.009) or with padding (340.00)."""
    return format_number(value, catalogue.ANALYTES[analyte].decimals_for(unit))


@functools.cache
def display_conversion(analyte: str, system: str) -> catalogue.UnitConversion:
    """The unit an analyte is shown in for a unit system (unknown systems: conventional).
    Cached: a dashboard formats thousands of values, and the unit lookup normalises every
    accepted spelling each time."""
    info = catalogue.ANALYTES[analyte]
    return info.display_unit(system if system in catalogue.UNIT_SYSTEMS else catalogue.CONVENTIONAL)


@functools.cache
def display_formatter(analyte: str, system: str) -> Callable[[Decimal | str], str]:
    """canonical value -> its text in the display unit of ``system``, half-up to the
    analyte's precision in that unit (what :func:`format_value` does after the
    conversion), with the unit, its precision and the rounding step looked up once."""
    conv = display_conversion(analyte, system)
    quantum = Decimal(1).scaleb(-catalogue.ANALYTES[analyte].decimals_for(conv.unit))
    from_canonical = conv.from_canonical

    def text(canonical: Decimal | str) -> str:
        return format(from_canonical(Decimal(canonical)).quantize(quantum, rounding=ROUND_HALF_UP), "f")

    return text


def to_display(canonical: Decimal | str, *, analyte: str, system: str) -> tuple[str, str]:
    """A canonical value converted to the display unit of ``system``: (text, unit)."""
    return display_formatter(analyte, system)(canonical), display_conversion(analyte, system).unit


def format_canonical(canonical: Decimal | str, *, analyte: str, system: str) -> str:
    """Only the text of :func:`to_display` (for a chart label or a table cell)."""
    return to_display(canonical, analyte=analyte, system=system)[0]


def format_measure(canonical: Decimal | str, *, analyte: str, system: str) -> str:
    """Value and unit for a sentence: "5.65 mmol/L". Used for thresholds too."""
    text, unit = to_display(canonical, analyte=analyte, system=system)
    return f"{text} {unit}"


def format_number(value: Decimal | str | int, places: int) -> str:
    """A number that is not a lab value (dose, ratio, percent, %-points), rounded half-up to
    at most ``places`` decimals with trailing zeros dropped: 3.0 -> "3", 0.125 -> "0.13"."""
    text = format(round_half_up(value, places), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def plain(value: Decimal | str | int) -> str:
    """A Decimal exactly, without exponent or trailing zeros ("10", never "1E+1").

    For values stored or echoed as they were entered (alert parameters, form initial
    values), not for rounded display.
    """
    return format(Decimal(value).normalize(), "f")


def typed(value: Decimal | None) -> str:
    """A number a person typed, quoted back in an error message: up to 3 decimals; huge or
    tiny input in scientific notation instead of overflowing the Decimal context."""
    if value is None:
        return "-"
    if value and (abs(value) >= Decimal("1e12") or abs(value) < Decimal("1e-3")):
        return format(value, ".6g")
    q = value.quantize(Decimal("0.001")) if abs(value) < 1000 else value.quantize(Decimal("1"))
    return format(q.normalize(), "f")


def as_float(value: Decimal | None) -> float | None:
    """A Decimal for a JSON snapshot or a chart axis (None stays None)."""
    return float(value) if value is not None else None
