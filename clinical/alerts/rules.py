"""The alert rules (RULES.md section 2): pure functions from a patient record to candidates.

Every threshold comes from ``catalogue.THRESHOLDS`` and every comparison is made on
canonical Decimals, so a value entered exactly at a threshold behaves the same in either
unit system. A candidate stores ``params`` (canonical values as exact strings, dates as
ISO strings) so that its message can be written later in any viewer's unit system.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from clinical import catalogue, formatting, trends
from clinical.catalogue import THRESHOLDS
from clinical.records import Lab, PatientRecord, Point, on_treatment

PATIENT_SUBJECT = "patient"


@dataclass(frozen=True)
class AlertCandidate:
    rule: str
    subject_key: str  # "lab:<uuid>", "course:<uuid>", "dose:<uuid>", "visit:<uuid>" or "patient"
    params: dict[str, Any] = field(default_factory=dict)
    # The date of the evidence (lab collected, course start, dose effective, visit date);
    # for a state rule, the date the condition began. Shown to clinicians and ordered on.
    observed_on: dt.date | None = None

    @property
    def evidence(self) -> tuple[str, str] | None:
        """(kind, public id) of the row the alert points at, or None for the patient."""
        if ":" not in self.subject_key:
            return None
        kind, key = self.subject_key.split(":", 1)
        return kind, key


def _lab_params(lab: Lab, **extra: Any) -> dict[str, Any]:
    return {
        "analyte": lab.analyte,
        "value": formatting.plain(lab.canonical),
        "collected_on": lab.collected_on.isoformat(),
        **extra,
    }


def rule_triglycerides(record: PatientRecord) -> list[AlertCandidate]:
    """TG_SEVERE and TG_VERY_HIGH; TG_SEVERE supersedes TG_VERY_HIGH for one result."""
    severe, very_high = THRESHOLDS["TG_SEVERE"].canonical, THRESHOLDS["TG_VERY_HIGH"].canonical
    severe_text, very_high_text = formatting.plain(severe), formatting.plain(very_high)
    out = []
    for lab in record.labs_of("triglycerides"):
        if lab.canonical >= severe:
            out.append(
                AlertCandidate("TG_SEVERE", f"lab:{lab.key}", _lab_params(lab, threshold=severe_text), lab.collected_on)
            )
        elif lab.canonical >= very_high:
            out.append(
                AlertCandidate(
                    "TG_VERY_HIGH", f"lab:{lab.key}", _lab_params(lab, threshold=very_high_text), lab.collected_on
                )
            )
    return out


def rule_glucose(record: PatientRecord) -> list[AlertCandidate]:
    """HYPOGLYCEMIA and LOW_GLUCOSE (HYPOGLYCEMIA supersedes LOW_GLUCOSE), and
    HYPERGLYCEMIA_SEVERE whatever the fasting state."""
    hypo, low = THRESHOLDS["HYPOGLYCEMIA"].canonical, THRESHOLDS["LOW_GLUCOSE"].canonical
    severe = THRESHOLDS["HYPERGLYCEMIA_SEVERE"].canonical
    text = {t: formatting.plain(t) for t in (hypo, low, severe)}
    out = []
    for lab in record.labs_of("glucose"):
        if lab.canonical >= severe:
            out.append(
                AlertCandidate(
                    "HYPERGLYCEMIA_SEVERE",
                    f"lab:{lab.key}",
                    _lab_params(lab, threshold=text[severe]),
                    lab.collected_on,
                )
            )
        elif lab.canonical < hypo:
            out.append(
                AlertCandidate(
                    "HYPOGLYCEMIA",
                    f"lab:{lab.key}",
                    _lab_params(lab, threshold=text[hypo]),
                    lab.collected_on,
                )
            )
        elif lab.canonical < low:
            out.append(
                AlertCandidate("LOW_GLUCOSE", f"lab:{lab.key}", _lab_params(lab, threshold=text[low]), lab.collected_on)
            )
    return out


def upper_limit(lab: Lab, sex: str) -> Decimal | None:
    """The lab's own upper limit when given, else the catalogue default for the sex (for
    other or unknown sex the lower of the sex defaults, as on the chart)."""
    if lab.uln is not None:
        return lab.uln
    default = catalogue.ANALYTES[lab.analyte].default_reference(sex)
    return default.high if default is not None else None


def _above_multiple(lab: Lab, sex: str, multiple: Decimal) -> Decimal | None:
    """The ULN when ``lab`` is strictly above ``multiple`` x ULN, else None."""
    uln = upper_limit(lab, sex)
    if uln is None or uln <= 0:
        return None
    return uln if lab.canonical > multiple * uln else None


def rule_liver(record: PatientRecord) -> list[AlertCandidate]:
    """LIVER_ENZYMES_HIGH (ALT/AST > 3 x ULN) and HYS_LAW (with bilirubin > 2 x ULN within 7 days)."""
    enzyme_x = THRESHOLDS["LIVER_ENZYME_X_ULN"].value
    bili_x = THRESHOLDS["HYS_LAW_BILIRUBIN_X_ULN"].value
    window = int(THRESHOLDS["HYS_LAW_WINDOW_DAYS"].value)
    high_bili = []
    for b in record.labs_of("bilirubin_total"):
        uln = _above_multiple(b, record.sex, bili_x)
        if uln is not None:
            high_bili.append((b, uln))
    out = []
    for analyte in ("alt", "ast"):
        for lab in record.labs_of(analyte):
            uln = _above_multiple(lab, record.sex, enzyme_x)
            if uln is None:
                continue
            out.append(
                AlertCandidate(
                    "LIVER_ENZYMES_HIGH",
                    f"lab:{lab.key}",
                    _lab_params(lab, uln=formatting.plain(uln)),
                    lab.collected_on,
                )
            )
            near = [(b, bu) for b, bu in high_bili if abs((b.collected_on - lab.collected_on).days) <= window]
            if near:
                # The bilirubin closest in time; ties to the earlier one.
                b, bu = min(
                    near, key=lambda pair: (abs((pair[0].collected_on - lab.collected_on).days), pair[0].collected_on)
                )
                out.append(
                    AlertCandidate(
                        "HYS_LAW",
                        f"lab:{lab.key}",
                        _lab_params(
                            lab,
                            uln=formatting.plain(uln),
                            bilirubin=formatting.plain(b.canonical),
                            bilirubin_uln=formatting.plain(bu),
                            bilirubin_on=b.collected_on.isoformat(),
                        ),
                        lab.collected_on,
                    )
                )
    return out


def rule_hypo_risk_at_start(record: PatientRecord) -> list[AlertCandidate]:
    out = []
    for course in record.metreleptin_courses():
        others = [
            c
            for c in record.courses
            if c.drug != "metreleptin"
            and catalogue.DRUGS.get(c.drug) is not None
            and catalogue.DRUGS[c.drug].hypoglycemia_risk
            and c.is_active_on(course.start_date)
        ]
        if others:
            out.append(
                AlertCandidate(
                    "HYPO_RISK_AT_START",
                    f"course:{course.key}",
                    {"start_date": course.start_date.isoformat(), "drugs": sorted({c.drug for c in others})},
                    course.start_date,
                )
            )
    return out


def rule_dose_above_max(record: PatientRecord) -> list[AlertCandidate]:
    """Label maximum: <= 40 kg: 0.13 mg/kg/day; > 40 kg: 10 mg/day. Weight: the latest on
    or before the dose's date, else the first within 30 days after it (the message says
    so); with no weight at all only the 10 mg/day maximum is checked."""
    heavy_max = catalogue.METRELEPTIN_LABEL["male"].maximum
    fallback = catalogue.METRELEPTIN_WEIGHT_FALLBACK_DAYS
    out = []
    for course in record.metreleptin_courses():
        for dose in course.doses:
            if dose.dose_unit != "mg/day":
                continue
            weight, weighed_on, after = record.weight_for_dose(dose.effective_date, fallback)
            limit = catalogue.metreleptin_max_mg(weight) if weight is not None else heavy_max
            above = dose.dose > limit
            if above:
                out.append(
                    AlertCandidate(
                        "METRELEPTIN_DOSE_ABOVE_MAX",
                        f"dose:{dose.key}",
                        {
                            "dose": formatting.plain(dose.dose),
                            "effective_date": dose.effective_date.isoformat(),
                            "weight_kg": formatting.plain(weight) if weight is not None else None,
                            "weight_on": weighed_on.isoformat() if weighed_on is not None else None,
                            "weight_after_dose": after,
                            "max_mg": formatting.plain(limit),
                        },
                        dose.effective_date,
                    )
                )
    return out


def rule_loss_of_effect(record: PatientRecord) -> list[AlertCandidate]:
    """On a course that has run >= 180 days: the latest on-treatment HbA1c >= 1.0 %-point
    above the on-treatment nadir, or the latest TG >= 50 % above its nadir and >= 200 mg/dL."""
    min_days = int(THRESHOLDS["LOSS_OF_EFFECT_MIN_COURSE_DAYS"].value)
    hba1c_rise = THRESHOLDS["LOSS_OF_EFFECT_HBA1C_RISE"].value
    tg_rise_pct = THRESHOLDS["LOSS_OF_EFFECT_TG_RISE_PCT"].value
    tg_floor = THRESHOLDS["LOSS_OF_EFFECT_TG_FLOOR"].canonical
    out = []
    for course in record.metreleptin_courses():
        end = min(course.end_date or record.today, record.today)
        if (end - course.start_date).days < min_days:
            continue
        params: dict[str, Any] = {"start_date": course.start_date.isoformat(), "days": (end - course.start_date).days}
        hba1c = on_treatment(record.labs_of("hba1c"), course, record.today)
        if len(hba1c) >= 2:
            latest, nadir = hba1c[-1], min(hba1c, key=lambda lab: lab.canonical)
            if latest.canonical - nadir.canonical >= hba1c_rise:
                params["hba1c"] = {
                    "value": formatting.plain(latest.canonical),
                    "on": latest.collected_on.isoformat(),
                    "nadir": formatting.plain(nadir.canonical),
                    "nadir_on": nadir.collected_on.isoformat(),
                }
        tg = on_treatment(record.labs_of("triglycerides"), course, record.today)
        if len(tg) >= 2:
            latest, nadir = tg[-1], min(tg, key=lambda lab: lab.canonical)
            if (
                nadir.canonical > 0
                and latest.canonical * 100 >= nadir.canonical * (100 + tg_rise_pct)
                and latest.canonical >= tg_floor
            ):
                params["triglycerides"] = {
                    "value": formatting.plain(latest.canonical),
                    "on": latest.collected_on.isoformat(),
                    "nadir": formatting.plain(nadir.canonical),
                    "nadir_on": nadir.collected_on.isoformat(),
                }
        if "hba1c" in params or "triglycerides" in params:
            # Observed when the latest rising value was collected.
            seen = max(dt.date.fromisoformat(params[a]["on"]) for a in ("hba1c", "triglycerides") if a in params)
            out.append(AlertCandidate("METRELEPTIN_LOSS_OF_EFFECT", f"course:{course.key}", params, seen))
    return out


def _month12_on(hba1c: list[Point], tg: list[Point], start: dt.date, end: dt.date | None) -> dt.date:
    """The date of the latest month-12 value the response was judged on (the course start
    when there is none, which a non-response never lacks)."""
    values = (trends.month_value(hba1c, start, 12, end), trends.month_value(tg, start, 12, end))
    days = [v.on for v in values if v is not None]
    return max(days) if days else start


def rule_non_response(record: PatientRecord) -> list[AlertCandidate]:
    """A final month-12 class of non_responder; never on a provisional class (a late
    month-12 value can still change it)."""
    hba1c, tg = record.series("hba1c"), record.series("triglycerides")
    out = []
    for course in record.metreleptin_courses():
        response = trends.course_response(
            hba1c=hba1c, triglycerides=tg, start=course.start_date, end=course.end_date, today=record.today
        )
        if response.response_class == "non_responder" and not response.provisional:
            out.append(
                AlertCandidate(
                    "METRELEPTIN_NON_RESPONSE",
                    f"course:{course.key}",
                    {
                        "start_date": course.start_date.isoformat(),
                        "hba1c_change": formatting.plain(response.hba1c_change)
                        if response.hba1c_change is not None
                        else None,
                        "tg_percent_change": formatting.plain(formatting.round_half_up(response.tg_percent_change, 1))
                        if response.tg_percent_change is not None
                        else None,
                    },
                    _month12_on(hba1c, tg, course.start_date, course.end_date),
                )
            )
    return out


def rule_tg_after_stop(record: PatientRecord) -> list[AlertCandidate]:
    threshold = THRESHOLDS["TG_AFTER_STOP"].canonical
    window = int(THRESHOLDS["TG_AFTER_STOP_WINDOW_DAYS"].value)
    ended = [c for c in record.metreleptin_courses() if c.end_date is not None]
    out = []
    for lab in record.labs_of("triglycerides"):
        if lab.canonical < threshold:
            continue
        for course in ended:
            days = (lab.collected_on - course.end_date).days  # type: ignore[operator]
            if 0 < days <= window:
                out.append(
                    AlertCandidate(
                        "TG_AFTER_STOP",
                        f"lab:{lab.key}",
                        _lab_params(
                            lab, threshold=formatting.plain(threshold), end_date=course.end_date.isoformat(), days=days
                        ),  # type: ignore[union-attr]
                        lab.collected_on,
                    )
                )
                break
    return out


def rule_weight_loss(record: PatientRecord) -> list[AlertCandidate]:
    """On metreleptin, weight falls >= 10 % within 180 days (both weights within one course);
    the alert points at the later visit and compares with the highest weight before it."""
    pct = THRESHOLDS["WEIGHT_LOSS_PCT"].value
    window = int(THRESHOLDS["WEIGHT_LOSS_WINDOW_DAYS"].value)
    weights = sorted(record.weights, key=lambda w: w.on)
    out = []
    seen: set[str] = set()
    for course in record.metreleptin_courses():
        on = [w for w in weights if course.is_active_on(w.on) and w.kg > 0]
        for i, later in enumerate(on):
            earlier = [w for w in on[:i] if 0 <= (later.on - w.on).days <= window and w.on < later.on]
            if not earlier or later.key in seen:
                continue
            top = max(earlier, key=lambda w: (w.kg, w.on))
            if (top.kg - later.kg) * 100 >= pct * top.kg:
                seen.add(later.key)
                with localcontext() as ctx:
                    ctx.prec = 28
                    fall = formatting.round_half_up((top.kg - later.kg) * 100 / top.kg, 1)
                out.append(
                    AlertCandidate(
                        "WEIGHT_LOSS",
                        f"visit:{later.key}",
                        {
                            "from_kg": formatting.plain(top.kg),
                            "from_on": top.on.isoformat(),
                            "to_kg": formatting.plain(later.kg),
                            "to_on": later.on.isoformat(),
                            "percent": formatting.plain(fall),
                        },
                        later.on,
                    )
                )
    return out


def rule_lymphoma_vigilance(record: PatientRecord) -> list[AlertCandidate]:
    """Any recorded diagnosis of acquired generalized lipodystrophy counts, not only the
    primary subtype (a later diagnosis must not hide the vigilance)."""
    codes = {record.subtype, *record.subtypes}
    if not any(catalogue.SUBTYPES.get(c) is not None and catalogue.SUBTYPES[c].group == "AGL" for c in codes):
        return []
    return [
        AlertCandidate("LYMPHOMA_VIGILANCE", f"course:{c.key}", {"start_date": c.start_date.isoformat()}, c.start_date)
        for c in record.metreleptin_courses()
        if c.is_active_on(record.today)
    ]


def rule_monitoring_overdue(record: PatientRecord) -> list[AlertCandidate]:
    window = int(THRESHOLDS["MONITORING_WINDOW_DAYS"].value)
    active = [c for c in record.metreleptin_courses() if c.is_active_on(record.today)]
    if not active:
        return []
    since = record.today - dt.timedelta(days=window)
    missing, last, began = [], {}, []
    for analyte in ("hba1c", "triglycerides"):
        labs = [lab for lab in record.labs_of(analyte) if lab.collected_on <= record.today]
        last[analyte] = labs[-1].collected_on.isoformat() if labs else None
        if not labs or labs[-1].collected_on < since:
            missing.append(analyte)
            # Overdue from the day after the window closed; from the course start when never measured.
            began.append(labs[-1].collected_on + dt.timedelta(days=window + 1) if labs else active[0].start_date)
    if not missing:
        return []
    # The condition began at the earliest overdue day, but not before the current course.
    observed = max(min(began), active[0].start_date)
    return [
        AlertCandidate(
            "MONITORING_OVERDUE", PATIENT_SUBJECT, {"missing": missing, "last": last, "days": window}, observed
        )
    ]


def _median_of_sorted(s: list[Decimal]) -> Decimal:
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2


def rule_unit_error(record: PatientRecord) -> list[AlertCandidate]:
    ratio = THRESHOLDS["UNIT_ERROR_RATIO"].value
    min_prior = int(THRESHOLDS["UNIT_ERROR_MIN_PRIOR"].value)
    out = []
    for analyte in sorted({lab.analyte for lab in record.labs}):
        labs = record.labs_of(analyte)
        prior: list[Decimal] = []  # the earlier values, kept sorted
        for lab in labs:
            n_prior = len(prior)
            median = _median_of_sorted(prior) if n_prior >= min_prior else None
            bisect.insort(prior, lab.canonical)
            if median is None or median <= 0:
                continue
            if lab.canonical >= ratio * median or lab.canonical * ratio <= median:
                out.append(
                    AlertCandidate(
                        "POSSIBLE_UNIT_ERROR",
                        f"lab:{lab.key}",
                        _lab_params(lab, median=formatting.plain(median), n_prior=n_prior),
                        lab.collected_on,
                    )
                )
    return out
