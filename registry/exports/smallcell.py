"""Small-cell protection of the quasi-identifiers (sex, birth decade, subtype, site
country): a pure function over plain records.

Patients whose combination of quasi-identifiers is shared by fewer than ``k`` exported
patients are generalised step by step (subtype -> subtype group, then country -> "other",
then birth decade -> "unknown"); a patient still in a group smaller than ``k`` after the
last step is suppressed (left out of every table). What happened is counted per step for
the manifest. Groups are counted among the patients that reached the same step, so a
generalised group is itself at least ``k`` strong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

DEFAULT_K = 5
GENERALISED_COUNTRY = "other"
GENERALISED_DECADE = "unknown"


@dataclass(frozen=True)
class QuasiIdentifiers:
    sex: str
    birth_decade: str
    subtype: str
    country: str


@dataclass(frozen=True)
class Decision:
    """What the export shows for one patient."""

    level: int  # 0 = as recorded; 1..3 = generalised steps; -1 = suppressed
    qi: QuasiIdentifiers

    @property
    def suppressed(self) -> bool:
        return self.level < 0

    @property
    def subtype_generalised(self) -> bool:
        return self.level >= 1

    @property
    def country_generalised(self) -> bool:
        return self.level >= 2

    @property
    def decade_generalised(self) -> bool:
        return self.level >= 3


@dataclass
class Report:
    k: int
    patients_in: int = 0
    kept_as_recorded: int = 0
    generalised: dict[str, int] = field(default_factory=dict)
    suppressed: int = 0

    def as_dict(self) -> dict:
        return {
            "k": self.k,
            "quasi_identifiers": ["sex", "birth_decade", "subtype", "site_country"],
            "patients_considered": self.patients_in,
            "patients_kept_as_recorded": self.kept_as_recorded,
            "patients_generalised": dict(self.generalised),
            "patients_suppressed": self.suppressed,
            "steps": [
                "1: subtype -> subtype group",
                "2: + site country -> 'other'",
                "3: + birth decade -> 'unknown' (birth year removed)",
                "then: patients still in a group smaller than k are left out of every table",
            ],
        }


STEP_NAMES = {1: "subtype_to_group", 2: "country_to_other", 3: "birth_decade_to_unknown"}


def _generalise(qi: QuasiIdentifiers, level: int, group_of: Callable[[str], str]) -> QuasiIdentifiers:
    subtype = group_of(qi.subtype) if level >= 1 else qi.subtype
    country = GENERALISED_COUNTRY if level >= 2 else qi.country
    decade = GENERALISED_DECADE if level >= 3 else qi.birth_decade
    return QuasiIdentifiers(qi.sex, decade, subtype, country)


def protect(
    records: Iterable[tuple[object, QuasiIdentifiers]],
    *,
    k: int = DEFAULT_K,
    group_of: Callable[[str], str],
) -> tuple[dict[object, Decision], Report]:
    """Decide, for each ``(key, quasi-identifiers)``, what the export shows."""
    if k < 1:
        raise ValueError("k must be at least 1")
    pending = dict(records)
    report = Report(k=k, patients_in=len(pending))
    decisions: dict[object, Decision] = {}
    for level in range(0, len(STEP_NAMES) + 1):
        if not pending:
            break
        shown = {key: _generalise(qi, level, group_of) for key, qi in pending.items()}
        sizes = Counter(shown.values())
        safe = [key for key, qi in shown.items() if sizes[qi] >= k]
        for key in safe:
            decisions[key] = Decision(level, shown[key])
            del pending[key]
        if level == 0:
            report.kept_as_recorded = len(safe)
        elif safe:
            report.generalised[STEP_NAMES[level]] = len(safe)
    for key, qi in pending.items():
        decisions[key] = Decision(-1, qi)
    report.suppressed = len(pending)
    return decisions, report
