"""Numbers as people type them, parsed once for labs, visits and doses (RULES.md 5)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def parse_decimal(raw: Any, field: str, errors: dict[str, list[str]], label: str) -> Decimal | None:
    """``raw`` as a Decimal (a decimal comma accepted); None when blank or not a number, in
    which case the message (naming ``label``) is added to ``errors[field]``."""
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(str(raw).strip().replace(",", ".")) if isinstance(raw, str) else Decimal(str(raw))
    except (InvalidOperation, ValueError):
        errors.setdefault(field, []).append(f"{label} {raw!r} is not a number.")
        return None
    if not value.is_finite():
        errors.setdefault(field, []).append(f"{label} must be a finite number.")
        return None
    return value
