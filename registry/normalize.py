"""Identifier and name hygiene: the one place that decides what an MRN or a person's
name may contain and how two spellings compare. Forms, the API, the lab import and the
services all call these functions (pure, no database).

- Unicode NFKC, so that full-width digits, ligatures and compatibility forms compare
  equal to what they look like (``ＤＥＭＯ００００１`` is ``DEMO00001``).
- Surrounding whitespace stripped (after NFKC, which turns no-break spaces into spaces).
- Control characters (Cc), format characters (Cf: zero-width space and joiners, bidi
  overrides, soft hyphen, BOM), surrogates, private-use code points and line/paragraph
  separators are refused with a message naming the first one: they are
  invisible on screen, so two records that look the same would otherwise differ.
- MRN uniqueness compares the case-folded normalised value (:func:`mrn_key`); the
  database holds that key in its own column under a unique constraint.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError

# General categories refused anywhere in an identifier or a name.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def refused_characters() -> list[tuple[int, int]]:
    """The code point ranges of REFUSED_CATEGORIES (for the OpenAPI pattern)."""
    ranges: list[tuple[int, int]] = []
    start = None
    for cp in range(0x110000):
        refused = unicodedata.category(chr(cp)) in REFUSED_CATEGORIES
        if refused and start is None:
            start = cp
        elif not refused and start is not None:
            ranges.append((start, cp - 1))
            start = None
    if start is not None:
        ranges.append((start, 0x10FFFF))
    return ranges


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    if not name:
        name = {"Cc": "control character", "Cs": "surrogate", "Co": "private-use character"}[unicodedata.category(char)]
    return f"U+{ord(char):04X} {name}".strip()


def first_refused(text: str) -> str | None:
    """The first refused character of ``text``, or None."""
    for char in text:
        if unicodedata.category(char) in REFUSED_CATEGORIES:
            return char
    return None


def clean_text(value: object, *, label: str) -> str:
    """``value`` as NFKC text without surrounding whitespace; ValidationError (with a
    message naming the character) when it holds an invisible or control character."""
    if value is None:
        return ""
    text = str(value)
    bad = first_refused(text)
    if bad is None:
        text = unicodedata.normalize("NFKC", text)
        bad = first_refused(text)  # NFKC never introduces one, but say so if it did
    if bad is not None:
        raise ValidationError(
            "The %(label)s contains an invisible or control character (%(char)s); type it again without it.",
            code="invisible_character",
            params={"label": label, "char": _describe(bad)},
        )
    return text.strip()


def clean_mrn(value: object) -> str:
    return clean_text(value, label="MRN")


def clean_name(value: object, *, label: str = "name") -> str:
    return clean_text(value, label=label)


def mrn_key(mrn: str) -> str:
    """What two MRNs of one site are compared by: the normalised value, case-folded."""
    return unicodedata.normalize("NFKC", (mrn or "").strip()).casefold()


def without_refused(text: str) -> str:
    """``text`` with the refused characters dropped, NFKC, stripped: how existing rows
    are brought into shape by the migration (new input is refused instead)."""
    kept = "".join(c for c in (text or "") if unicodedata.category(c) not in REFUSED_CATEGORIES)
    return unicodedata.normalize("NFKC", kept).strip()


def clean_fields(fields: dict[str, object], labels: dict[str, str]) -> tuple[dict[str, object], dict[str, list[str]]]:
    """Clean every key of ``labels`` present in ``fields``; return the cleaned copy and
    the field errors (``{"mrn": ["..."]}``) for a service's ValidationError."""
    out = dict(fields)
    errors: dict[str, list[str]] = {}
    for name, label in labels.items():
        if name in out:
            try:
                out[name] = clean_text(out[name], label=label)
            except ValidationError as exc:
                errors[name] = list(exc.messages)
    return out, errors


# The identity fields cleaned here, with the label their messages use.
IDENTITY_LABELS = {"family_name": "family name", "given_name": "given name", "mrn": "MRN"}


def mrn_collisions(rows: list[tuple[str, str, str]]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Group ``(site_code, registry_code, mrn)`` rows that become one MRN once cleaned
    (:func:`without_refused`, case-folded), or that clean to nothing. Returns
    ``(site_code, key, [(registry_code, mrn as stored), ...])`` per problem, sorted."""
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for site_code, registry_code, mrn in rows:
        key = mrn_key(without_refused(mrn))
        groups.setdefault((site_code, key), []).append((registry_code, mrn))
    return sorted(
        (site, key, sorted(members)) for (site, key), members in groups.items() if len(members) > 1 or not key
    )


def describe_collisions(collisions: list[tuple[str, str, list[tuple[str, str]]]]) -> str:
    lines = []
    for site, key, members in collisions:
        listed = ", ".join(f"{code} (MRN {mrn!r})" for code, mrn in members)
        if key:
            lines.append(f"  site {site}: {listed} are the same MRN {key!r} once normalised")
        else:
            lines.append(f"  site {site}: {listed} has no MRN left once invisible characters are removed")
    return "\n".join(lines)
