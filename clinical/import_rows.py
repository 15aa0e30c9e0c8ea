"""Checking the cells of a lab CSV, once per distinct cell (pure, no database).

A 100,000-row file names a handful of analytes, units, days and a few hundred patients,
yet ``lab_validate`` normalises the unit spelling, parses the number and checks the date
again for every row. :class:`RowChecker` answers each distinct analyte, unit, day,
fasting and identifier cell once per file. A value that is a plain decimal number
(digits, at most one ``.``), with a known unit and an acceptable date, takes a short path
that computes what ``lab_validate`` computes for it (same conversion, same limits, same
unit-slip rule); every other value goes through ``lab_validate`` itself, so each message
stays the one forms and the API give. ``tests/clinical/test_import_rows.py`` compares
the two paths.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError

from clinical import catalogue, formatting, unit_slips
from clinical.services.labs import CANONICAL_QUANTUM, VALUE_DECIMALS, lab_validate
from registry import normalize
from registry.writekit import check_date

# What parse_number reads as Decimal(text) with no question asked (no sign, no comma,
# no exponent, ASCII digits only).
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")

YES = frozenset({"yes", "y", "true", "1", "fasting", "ja", "oui"})
NO = frozenset({"no", "n", "false", "0", "non-fasting", "nonfasting", "nein", "non"})


@dataclass(frozen=True, slots=True)
class CheckedLab:
    """A valid value, as ``lab_validate`` returns it, with its unit-slip question."""

    analyte: catalogue.Analyte
    value: Decimal
    unit: str  # the accepted spelling
    canonical: Decimal  # quantized as stored
    unit_suspect: str = ""  # the question to confirm, or ""


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
        self._units: dict[tuple[str, str], catalogue.UnitConversion | None] = {}
        self._days: dict[str, dt.date | None] = {}
        self._day_ok: dict[dt.date, bool] = {}
        self._fasting: dict[str, tuple[bool | None, bool]] = {}
        self._idents: dict[tuple[str, str], tuple[list[str], str]] = {}
        self._suspect_above: dict[tuple[str, str], tuple[catalogue.UnitConversion | None, Decimal | None]] = {}

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
        key = (raw, label)
        try:
            return self._idents[key]
        except KeyError:
            pass
        try:
            normalize.clean_text(raw, label=label)
            messages: list[str] = []
        except ValidationError as exc:
            messages = list(exc.messages)
        found = self._idents[key] = (messages, normalize.without_refused(raw))
        return found

    # -- the value -----------------------------------------------------------------

    def _unit(self, info: catalogue.Analyte, spelling: str) -> catalogue.UnitConversion | None:
        key = (info.code, spelling)
        try:
            return self._units[key]
        except KeyError:
            found = self._units[key] = info.unit(spelling)
            return found

    def _date_ok(self, day: dt.date) -> bool:
        try:
            return self._day_ok[day]
        except KeyError:
            errors: dict[str, list[str]] = {}
            check_date(errors, "collected_on", day, today=self.today)
            ok = self._day_ok[day] = not errors
            return ok

    def _suspect(
        self, info: catalogue.Analyte, value: Decimal, conv: catalogue.UnitConversion, canonical: Decimal
    ) -> str:
        """``suspect_message``, without its work for the values it cannot concern: at or
        below UNIT_SUSPECT_X_ULN x the upper default limit (canonical), nothing is asked."""
        key = (info.code, conv.unit)
        try:
            own, above = self._suspect_above[key]
        except KeyError:
            own = info.unit(conv.unit)
            rng = info.default_reference("unknown")
            above = catalogue.UNIT_SUSPECT_X_ULN * rng.high if rng is not None and rng.high is not None else None
            self._suspect_above[key] = (own, above)
        if own is None or above is None:
            return ""
        if (canonical if own is conv else own.to_canonical(value)) <= above:
            return ""
        return suspect_message(info, value, conv.unit)

    def lab(self, info: catalogue.Analyte, value: str, unit: str, day: dt.date | None) -> CheckedLab | dict:
        """The checked value, or ``lab_validate``'s errors by field (its message_dict).
        ``value`` and ``unit`` are stripped cells."""
        conv = self._unit(info, unit)
        if conv is not None and day is not None and _PLAIN_NUMBER.fullmatch(value) and self._date_ok(day):
            number = Decimal(value)
            if number.as_tuple().exponent >= -VALUE_DECIMALS:  # type: ignore[operator]
                canonical = conv.to_canonical(number)
                if info.hard_limits.contains(canonical):
                    return CheckedLab(
                        info,
                        number,
                        conv.unit,
                        canonical.quantize(CANONICAL_QUANTUM),
                        self._suspect(info, number, conv, canonical),
                    )
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
