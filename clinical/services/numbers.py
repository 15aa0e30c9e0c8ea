"""Numbers as people type them, parsed once for forms, the API and imports (RULES.md 5).

A decimal comma is accepted (``5,6`` is 5.6). Anything that could be read two ways is
refused with a message that says what to type instead: a comma followed by exactly three
digits (``1,250``: thousands or decimals?), both ``.`` and ``,``, spaces or other group
separators inside, and scientific notation. JSON numbers from the API are unambiguous and
taken as they are (a float through its shortest text, so 0.1 stays 0.1).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_PLAIN = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)$")
_AMBIGUOUS = re.compile(r"^[+-]?(\d+),(\d{3})$")
# Spaces of every kind and the group separators people paste from spreadsheets.
_GROUP = re.compile(r"[\s\u00a0\u2009\u202f'\u2019_]")


def number_problem(text: str) -> str | None:
    """Why ``text`` (already stripped, not blank) is not a number we accept, or None."""
    if text.lower().lstrip("+-") in ("nan", "snan", "inf", "infinity"):
        return "must be a finite number"
    if _GROUP.search(text):
        return "has spaces or separators inside: type the digits together, e.g. 1250 or 1250.5"
    if "e" in text.lower() and re.search(r"\d[eE][+-]?\d", text):
        return "is in scientific notation: type the number in full, e.g. 0.0012 or 1200"
    if "." in text and "," in text:
        return "has both '.' and ',': type it without a thousands separator, e.g. 1250.5 (or 1250,5)"
    if text.count(",") > 1 or text.count(".") > 1:
        return "has more than one separator: type it without thousands separators, e.g. 1250000"
    m = _AMBIGUOUS.match(text)
    if m and m.group(1).strip("0"):
        whole, part = m.groups()
        decimals = f"{whole}.{part.rstrip('0')}" if part.rstrip("0") else whole
        return f"is ambiguous (thousands or decimals?): type {whole}{part} or {decimals}"
    if not _PLAIN.match(text):
        return "is not a number"
    return None


def parse_number(raw: Any) -> Decimal:
    """``raw`` (text typed by a person, or a JSON number) as a finite Decimal.

    Raises ValueError with the reason (to be prefixed with what the number is) when it is
    not a number we accept. Blank text is the caller's business (see :func:`parse_decimal`)."""
    if isinstance(raw, bool):
        raise ValueError("is not a number")
    if isinstance(raw, (int, Decimal)):
        value = Decimal(raw)
    elif isinstance(raw, float):
        value = Decimal(repr(raw))
    else:
        text = str(raw).strip()
        problem = number_problem(text)
        if problem is not None:
            raise ValueError(problem)
        try:
            value = Decimal(text.replace(",", "."))
        except InvalidOperation:
            raise ValueError("is not a number") from None
    if not value.is_finite():
        raise ValueError("must be a finite number")
    return value


def parse_decimal(raw: Any, field: str, errors: dict[str, list[str]], label: str) -> Decimal | None:
    """``raw`` as a Decimal; None when blank or refused, in which case the message (naming
    ``label`` and what to type instead) is added to ``errors[field]``."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        return parse_number(raw)
    except ValueError as exc:
        shown = raw.strip() if isinstance(raw, str) else raw
        errors.setdefault(field, []).append(f"{label} {str(shown)!r} {exc}.")
        return None
