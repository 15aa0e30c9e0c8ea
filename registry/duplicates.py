"""Possible duplicate patients at registration (pure: no database).

Two registrations are flagged as possibly the same person when the normalised family
names and the birth dates are equal, or when the normalised family and given names and
the sex are equal and the birth dates lie at most a year apart (a mistyped year). The
names are compared without case, accents, spaces, hyphens or apostrophes, so "Müller",
"MULLER" and "Mul-ler" meet.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

# "A year apart": the same day a year earlier or later, leap days included.
YEAR_APART = dt.timedelta(days=366)


def normalise_name(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name or "")
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch)).casefold()


@dataclass(frozen=True)
class Person:
    family_name: str
    given_name: str
    sex: str
    birth_date: dt.date


def why_duplicate(new: Person, known: Person) -> str:
    """Why ``known`` may be ``new`` ("same family name and birth date"), or "" if not."""
    family = normalise_name(new.family_name) == normalise_name(known.family_name)
    if family and new.birth_date == known.birth_date:
        return "same family name and date of birth"
    same_names = family and normalise_name(new.given_name) == normalise_name(known.given_name)
    if same_names and new.sex == known.sex and abs(new.birth_date - known.birth_date) <= YEAR_APART:
        return "same names and sex, born within a year"
    return ""
