"""Checking the cells of a lab CSV, once per distinct cell (pure, no database).

A 100,000-row file names a handful of analytes, units, days and a few hundred patients,
yet ``lab_validate`` normalises the unit spelling, parses the number and checks the date
again for every row. :class:`RowChecker` answers each distinct analyte, unit, day,
fasting and identifier cell once per file. A value that is a plain decimal number
(digits, at most one ``.`` and six decimals), with a known unit and an acceptable date,
takes a short path that computes what ``lab_validate`` computes for it (same conversion,
same limits, same unit-slip rule); every other value goes through ``lab_validate``
itself, so each message stays the one forms and the API give. ``tests/clinical/test_import_rows.py`` compares
the two paths.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import NamedTuple

from django.core.exceptions import ValidationError

from clinical import catalogue, formatting, unit_slips
from clinical.services.labs import CANONICAL_QUANTUM, VALUE_DECIMALS, lab_validate
from registry import normalize
from registry.writekit import check_date

# What parse_number reads as Decimal(text) with no question asked (no sign, no comma,
# no exponent, ASCII digits only), with at most VALUE_DECIMALS decimals.
_PLAIN_NUMBER = re.compile(rf"[0-9]+(?:\.[0-9]{{1,{VALUE_DECIMALS}}})?")

YES = frozenset({"yes", "y", "true", "1", "fasting", "ja", "oui"})
NO = frozenset({"no", "n", "false", "0", "non-fasting", "nonfasting", "nein", "non"})
_NO_LIMIT = (Decimal("-Infinity"), Decimal("Infinity"))


class CheckedLab(NamedTuple):
    """A valid value, as ``lab_validate`` returns it, with its unit-slip question."""

    analyte: catalogue.Analyte
    value: Decimal
    unit: str  # the accepted spelling
    canonical: Decimal  # quantized as stored
    unit_suspect: str = ""  # the question to confirm, or ""


class _UnitPlan(NamedTuple):
    """What one (analyte, unit cell) pair needs per value, worked out once."""

    conv: catalogue.UnitConversion | None
    low: Decimal  # hard limits, canonical (infinite where open)
    high: Decimal
    suspect_above: Decimal | None  # canonical; None: never unit-suspect
    # the unit unit_slips reads the value in (the one the accepted spelling names)
    suspect_conv: catalogue.UnitConversion | None


def parse_date(raw: str) -> dt.date | None:
    raw = raw.strip()
    if len(raw) != 10:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


def parse_fasting(raw: str) -> tuple[bool | None, bool]:
    """(fasting, understood)."""
    key = raw.strip().lower()
    if not key:
        return None, True
    if key in YES:
        return True, True
    if key in NO:
        return False, True
    return None, False


def suspect_message(info: catalogue.Analyte, value: Decimal, unit: str) -> str:
    """The unit-slip question of a valid value (RULES.md 5), or ""."""
    suspect = unit_slips.unit_suspect(info.code, value, unit)
    if suspect is None:
        return ""
    return (
        f"{info.name} {formatting.typed(value)} {unit} is unusually high for this "
        f"unit. Did you mean {suspect.text(info.code)}?"
    )


class RowChecker:
    """Per-file caches over the pure checks of one row's cells (see the module text)."""

    def __init__(self, today: dt.date):
        self.today = today
        self._analytes: dict[str, catalogue.Analyte | None] = {}
        self._units: dict[tuple[str, str], _UnitPlan] = {}
        self._days: dict[str, dt.date | None] = {}
        self._day_ok: dict[dt.date, bool] = {}
        self._fasting: dict[str, tuple[bool | None, bool]] = {}
        self._idents: dict[str, dict[str, tuple[list[str], str]]] = {}

    # -- cells ---------------------------------------------------------------------

    def analyte(self, cell: str) -> catalogue.Analyte | None:
        try:
            return self._analytes[cell]
        except KeyError:
            found = self._analytes[cell] = catalogue.analyte_by_code_or_loinc(cell)
            return found

    def day(self, cell: str) -> dt.date | None:
        try:
            return self._days[cell]
        except KeyError:
            found = self._days[cell] = parse_date(cell)
            return found

    def fasting(self, cell: str) -> tuple[bool | None, bool]:
        try:
            return self._fasting[cell]
        except KeyError:
            found = self._fasting[cell] = parse_fasting(cell)
            return found

    def identifier(self, raw: str, label: str) -> tuple[list[str], str]:
        """(messages for a refused character, the value with those characters dropped)."""
        seen = self._idents.setdefault(label, {})
        try:
            return seen[raw]
        except KeyError:
            pass
        try:
            normalize.clean_text(raw, label=label)
            messages: list[str] = []
        except ValidationError as exc:
            messages = list(exc.messages)
        found = seen[raw] = (messages, normalize.without_refused(raw))
        return found

    # -- the value -----------------------------------------------------------------

    def _unit_plan(self, info: catalogue.Analyte, spelling: str) -> _UnitPlan:
        conv = info.unit(spelling)
        low, high = info.hard_limits.low, info.hard_limits.high
        rng = info.default_reference("unknown")
        above = catalogue.UNIT_SUSPECT_X_ULN * rng.high if rng is not None and rng.high is not None else None
        plan = _UnitPlan(
            conv,
            _NO_LIMIT[0] if low is None else low,
            _NO_LIMIT[1] if high is None else high,
            above,
            info.unit(conv.unit) if conv is not None else None,
        )
        self._units[(info.code, spelling)] = plan
        return plan

    def _date_ok(self, day: dt.date) -> bool:
        ok = self._day_ok.get(day)
        if ok is None:
            errors: dict[str, list[str]] = {}
            check_date(errors, "collected_on", day, today=self.today)
            ok = self._day_ok[day] = not errors
        return ok

    def lab(self, info: catalogue.Analyte, value: str, unit: str, day: dt.date | None) -> CheckedLab | dict:
        """The checked value, or ``lab_validate``'s errors by field (its message_dict).
        ``value`` and ``unit`` are stripped cells."""
        plan = self._units.get((info.code, unit)) or self._unit_plan(info, unit)
        conv = plan.conv
        if conv is not None and day is not None and _PLAIN_NUMBER.fullmatch(value) and self._date_ok(day):
            number = Decimal(value)
            canonical = conv.to_canonical(number)
            if plan.low <= canonical <= plan.high:
                suspect = ""
                if plan.suspect_above is not None and plan.suspect_conv is not None:
                    # unit_slips reads the value in the unit its accepted spelling names
                    own = canonical if plan.suspect_conv is conv else plan.suspect_conv.to_canonical(number)
                    if own > plan.suspect_above:
                        suspect = suspect_message(info, number, conv.unit)
                return CheckedLab(info, number, conv.unit, canonical.quantize(CANONICAL_QUANTUM), suspect)
        try:
            v = lab_validate(
                analyte=info.code,
                value=value,
                unit=unit,
                collected_on=day,
                today=self.today,
                confirm_unusual=True,  # asked once for the whole file instead
            )
        except ValidationError as exc:
            return exc.message_dict
        return CheckedLab(info, v.value, v.unit, v.canonical, suspect_message(info, v.value, v.unit))
