"""The clinical alert rules (RULES.md section 2): one rule table plus pure functions.

Nothing here touches the database. ``clinical.evaluation`` builds a :class:`PatientRecord`
from the stored rows, calls :func:`evaluate_alerts` and upserts the returned
:class:`AlertCandidate` rows. Every threshold comes from ``catalogue.THRESHOLDS`` and
every comparison is made on canonical Decimals, so a value entered exactly at a
threshold behaves the same in either unit system.

An alert stores ``params`` (canonical values as strings, dates as ISO strings) so that
:func:`render_alert_message` can show it in any viewer's unit system.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from clinical import catalogue, formatting, trends

D = Decimal
T = catalogue.THRESHOLDS

CRITICAL, WARNING, INFO = "critical", "warning", "info"
SEVERITY_RANK = {CRITICAL: 0, WARNING: 1, INFO: 2}

PATIENT_SUBJECT = "patient"


# --------------------------------------------------------------------------------------
# The patient record, as plain data
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lab:
    key: str  # public id of the LabResult
    analyte: str
    canonical: Decimal
    collected_on: dt.date
    uln: Decimal | None = None  # upper reference limit given by the lab, canonical unit


@dataclass(frozen=True)
class Dose:
    key: str  # public id of the DoseChange
    effective_date: dt.date
    dose: Decimal
    dose_unit: str


@dataclass(frozen=True)
class Course:
    key: str  # public id of the TreatmentCourse
    drug: str
    start_date: dt.date
    end_date: dt.date | None = None
    doses: tuple[Dose, ...] = ()

    def is_active_on(self, day: dt.date) -> bool:
        return self.start_date <= day and (self.end_date is None or self.end_date >= day)


@dataclass(frozen=True)
class Weight:
    key: str  # public id of the Visit
    on: dt.date
    kg: Decimal


@dataclass(frozen=True)
class PatientRecord:
    sex: str
    subtype: str  # primary subtype code ("" when unknown)
    today: dt.date
    labs: tuple[Lab, ...] = ()  # any order
    courses: tuple[Course, ...] = ()
    weights: tuple[Weight, ...] = ()

    def labs_of(self, analyte: str) -> list[Lab]:
        """Labs of one analyte, oldest first (stable for equal dates)."""
        return sorted((lab for lab in self.labs if lab.analyte == analyte), key=lambda lab: lab.collected_on)

    def metreleptin_courses(self) -> list[Course]:
        return sorted((c for c in self.courses if c.drug == "metreleptin"), key=lambda c: c.start_date)

    def weight_on_or_before(self, day: dt.date) -> Decimal | None:
        before = [w for w in self.weights if w.on <= day]
        return max(before, key=lambda w: w.on).kg if before else None


@dataclass(frozen=True)
class AlertCandidate:
    rule: str
    subject_key: str  # "lab:<uuid>", "course:<uuid>", "dose:<uuid>", "visit:<uuid>" or "patient"
    params: dict[str, Any] = field(default_factory=dict)
    # The date of the evidence (lab collected, course start, dose effective, visit date);
    # for a state rule, the date the condition began. Shown to clinicians and ordered on.
    observed_on: dt.date | None = None

    @property
    def severity(self) -> str:
        return RULES[self.rule].severity

    @property
    def evidence(self) -> tuple[str, str] | None:
        """(kind, public id) of the row the alert points at, or None for the patient."""
        if ":" not in self.subject_key:
            return None
        kind, key = self.subject_key.split(":", 1)
        return kind, key


# --------------------------------------------------------------------------------------
# Formatting in the viewer's units
# --------------------------------------------------------------------------------------


def format_value(analyte: str, canonical: Decimal | str, unit_system: str) -> str:
    """A value or threshold with its unit, as every other surface shows it."""
    return formatting.format_measure(canonical, analyte=analyte, system=unit_system)


def _date(iso: str | None) -> str:
    return iso or "unknown date"


def _name(analyte: str) -> str:
    return catalogue.ANALYTES[analyte].name


# --------------------------------------------------------------------------------------
# The rule functions: record -> candidates
# --------------------------------------------------------------------------------------


def _lab_params(lab: Lab, **extra: Any) -> dict[str, Any]:
    return {
        "analyte": lab.analyte,
        "value": formatting.plain(lab.canonical),
        "collected_on": lab.collected_on.isoformat(),
        **extra,
    }


def rule_triglycerides(record: PatientRecord) -> list[AlertCandidate]:
    """TG_SEVERE and TG_VERY_HIGH; TG_SEVERE supersedes TG_VERY_HIGH for one result."""
    severe, very_high = T["TG_SEVERE"].canonical, T["TG_VERY_HIGH"].canonical
    out = []
    for lab in record.labs_of("triglycerides"):
        if lab.canonical >= severe:
            out.append(
                AlertCandidate(
                    "TG_SEVERE",
                    f"lab:{lab.key}",
                    _lab_params(lab, threshold=formatting.plain(severe)),
                    lab.collected_on,
                )
            )
        elif lab.canonical >= very_high:
            out.append(
                AlertCandidate(
                    "TG_VERY_HIGH",
                    f"lab:{lab.key}",
                    _lab_params(lab, threshold=formatting.plain(very_high)),
                    lab.collected_on,
                )
            )
    return out


def rule_glucose(record: PatientRecord) -> list[AlertCandidate]:
    """HYPOGLYCEMIA and LOW_GLUCOSE; HYPOGLYCEMIA supersedes LOW_GLUCOSE."""
    hypo, low = T["HYPOGLYCEMIA"].canonical, T["LOW_GLUCOSE"].canonical
    out = []
    for lab in record.labs_of("glucose"):
        if lab.canonical < hypo:
            out.append(
                AlertCandidate(
                    "HYPOGLYCEMIA",
                    f"lab:{lab.key}",
                    _lab_params(lab, threshold=formatting.plain(hypo)),
                    lab.collected_on,
                )
            )
        elif lab.canonical < low:
            out.append(
                AlertCandidate(
                    "LOW_GLUCOSE", f"lab:{lab.key}", _lab_params(lab, threshold=formatting.plain(low)), lab.collected_on
                )
            )
    return out


def upper_limit(lab: Lab, sex: str) -> Decimal | None:
    """The lab's own upper limit when given, else the sex default; for other or unknown
    sex the lower of the sex defaults (the more cautious choice)."""
    if lab.uln is not None:
        return lab.uln
    ref = catalogue.ANALYTES[lab.analyte].reference
    if sex in ref and ref[sex].high is not None:
        return ref[sex].high
    highs = [r.high for r in ref.values() if r.high is not None]
    return min(highs) if highs else None


def _above_multiple(lab: Lab, sex: str, multiple: Decimal) -> Decimal | None:
    """The ULN when ``lab`` is strictly above ``multiple`` x ULN, else None."""
    uln = upper_limit(lab, sex)
    if uln is None or uln <= 0:
        return None
    return uln if lab.canonical > multiple * uln else None


def rule_liver(record: PatientRecord) -> list[AlertCandidate]:
    """LIVER_ENZYMES_HIGH (ALT/AST > 3 x ULN) and HYS_LAW (with bilirubin > 2 x ULN within 7 days)."""
    enzyme_x = T["LIVER_ENZYME_X_ULN"].value
    bili_x = T["HYS_LAW_BILIRUBIN_X_ULN"].value
    window = int(T["HYS_LAW_WINDOW_DAYS"].value)
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
    """Label maximum: <= 40 kg: 0.13 mg/kg/day; > 40 kg: 10 mg/day. Without any weight on
    or before the dose's date, only a dose above the >40 kg maximum (which no lighter
    patient may exceed either) is flagged."""
    heavy_max = catalogue.METRELEPTIN_LABEL["male"].maximum
    out = []
    for course in record.metreleptin_courses():
        for dose in course.doses:
            if dose.dose_unit != "mg/day":
                continue
            weight = record.weight_on_or_before(dose.effective_date)
            if weight is not None and weight > 0:
                above = catalogue.metreleptin_above_max(dose.dose, weight)
                row = catalogue.metreleptin_label_row(weight, "male")
                limit = row.maximum * weight if row.per_kg else row.maximum
            else:
                above = dose.dose > heavy_max
                limit = heavy_max
            if above:
                out.append(
                    AlertCandidate(
                        "METRELEPTIN_DOSE_ABOVE_MAX",
                        f"dose:{dose.key}",
                        {
                            "dose": formatting.plain(dose.dose),
                            "effective_date": dose.effective_date.isoformat(),
                            "weight_kg": formatting.plain(weight) if weight is not None else None,
                            "max_mg": formatting.plain(limit),
                        },
                        dose.effective_date,
                    )
                )
    return out


def _on_treatment(labs: Iterable[Lab], course: Course, today: dt.date) -> list[Lab]:
    end = min(course.end_date or today, today)
    return [lab for lab in labs if course.start_date <= lab.collected_on <= end]


def rule_loss_of_effect(record: PatientRecord) -> list[AlertCandidate]:
    """On a course that has run >= 180 days: the latest on-treatment HbA1c >= 1.0 %-point
    above the on-treatment nadir, or the latest TG >= 50 % above its nadir and >= 200 mg/dL."""
    min_days = int(T["LOSS_OF_EFFECT_MIN_COURSE_DAYS"].value)
    hba1c_rise = T["LOSS_OF_EFFECT_HBA1C_RISE"].value
    tg_rise_pct = T["LOSS_OF_EFFECT_TG_RISE_PCT"].value
    tg_floor = T["LOSS_OF_EFFECT_TG_FLOOR"].canonical
    out = []
    for course in record.metreleptin_courses():
        end = min(course.end_date or record.today, record.today)
        if (end - course.start_date).days < min_days:
            continue
        params: dict[str, Any] = {"start_date": course.start_date.isoformat(), "days": (end - course.start_date).days}
        hba1c = _on_treatment(record.labs_of("hba1c"), course, record.today)
        if len(hba1c) >= 2:
            latest, nadir = hba1c[-1], min(hba1c, key=lambda lab: lab.canonical)
            if latest.canonical - nadir.canonical >= hba1c_rise:
                params["hba1c"] = {
                    "value": formatting.plain(latest.canonical),
                    "on": latest.collected_on.isoformat(),
                    "nadir": formatting.plain(nadir.canonical),
                    "nadir_on": nadir.collected_on.isoformat(),
                }
        tg = _on_treatment(record.labs_of("triglycerides"), course, record.today)
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


def course_series(record: PatientRecord, analyte: str) -> list[trends.Point]:
    return [trends.Point(lab.collected_on, lab.canonical) for lab in record.labs_of(analyte)]


def _month12_on(hba1c: list[trends.Point], tg: list[trends.Point], start: dt.date) -> dt.date:
    """The date of the latest month-12 value the response was judged on (the course start
    when there is none, which a non-response never lacks)."""
    days = [v.on for v in (trends.month_value(hba1c, start, 12), trends.month_value(tg, start, 12)) if v is not None]
    return max(days) if days else start


def rule_non_response(record: PatientRecord) -> list[AlertCandidate]:
    hba1c, tg = course_series(record, "hba1c"), course_series(record, "triglycerides")
    out = []
    for course in record.metreleptin_courses():
        response = trends.course_response(hba1c=hba1c, triglycerides=tg, start=course.start_date)
        if response.response_class == "non_responder":
            out.append(
                AlertCandidate(
                    "METRELEPTIN_NON_RESPONSE",
                    f"course:{course.key}",
                    {
                        "start_date": course.start_date.isoformat(),
                        "hba1c_change": formatting.plain(response.hba1c_change)
                        if response.hba1c_change is not None
                        else None,
                        "tg_percent_change": formatting.plain(response.tg_percent_change.quantize(D("0.1")))
                        if response.tg_percent_change is not None
                        else None,
                    },
                    _month12_on(hba1c, tg, course.start_date),
                )
            )
    return out


def rule_tg_after_stop(record: PatientRecord) -> list[AlertCandidate]:
    threshold = T["TG_AFTER_STOP"].canonical
    window = int(T["TG_AFTER_STOP_WINDOW_DAYS"].value)
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
    pct = T["WEIGHT_LOSS_PCT"].value
    window = int(T["WEIGHT_LOSS_WINDOW_DAYS"].value)
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
                    fall = ((top.kg - later.kg) * 100 / top.kg).quantize(D("0.1"))
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
    subtype = catalogue.SUBTYPES.get(record.subtype)
    if subtype is None or subtype.group != "AGL":
        return []
    return [
        AlertCandidate("LYMPHOMA_VIGILANCE", f"course:{c.key}", {"start_date": c.start_date.isoformat()}, c.start_date)
        for c in record.metreleptin_courses()
        if c.is_active_on(record.today)
    ]


def rule_monitoring_overdue(record: PatientRecord) -> list[AlertCandidate]:
    window = int(T["MONITORING_WINDOW_DAYS"].value)
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


def _median(values: list[Decimal]) -> Decimal:
    s = sorted(values)
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2


def rule_unit_error(record: PatientRecord) -> list[AlertCandidate]:
    ratio = T["UNIT_ERROR_RATIO"].value
    min_prior = int(T["UNIT_ERROR_MIN_PRIOR"].value)
    out = []
    for analyte in sorted({lab.analyte for lab in record.labs}):
        labs = record.labs_of(analyte)
        for i, lab in enumerate(labs):
            prior = [p.canonical for p in labs[:i]]
            if len(prior) < min_prior:
                continue
            median = _median(prior)
            if median <= 0:
                continue
            if lab.canonical >= ratio * median or lab.canonical * ratio <= median:
                out.append(
                    AlertCandidate(
                        "POSSIBLE_UNIT_ERROR",
                        f"lab:{lab.key}",
                        _lab_params(lab, median=formatting.plain(median), n_prior=len(prior)),
                        lab.collected_on,
                    )
                )
    return out


# --------------------------------------------------------------------------------------
# Messages, in the viewer's unit system
# --------------------------------------------------------------------------------------


def _msg_tg(p: Mapping[str, Any], u: str, rule: str) -> str:
    value = format_value("triglycerides", p["value"], u)
    limit = format_value("triglycerides", p["threshold"], u)
    if rule == "TG_SEVERE":
        return (
            f"Triglycerides {value} on {_date(p.get('collected_on'))}, at or above {limit}: risk of acute pancreatitis."
        )
    return f"Triglycerides {value} on {_date(p.get('collected_on'))}, at or above {limit} (very high)."


def _msg_glucose(p: Mapping[str, Any], u: str, rule: str) -> str:
    value = format_value("glucose", p["value"], u)
    limit = format_value("glucose", p["threshold"], u)
    if rule == "HYPOGLYCEMIA":
        return (
            f"Glucose {value} on {_date(p.get('collected_on'))}, below {limit}: clinically significant hypoglycaemia."
        )
    return f"Glucose {value} on {_date(p.get('collected_on'))}, below {limit}: low glucose."


def _msg_liver(p: Mapping[str, Any], u: str) -> str:
    a = p["analyte"]
    return (
        f"{_name(a)} {format_value(a, p['value'], u)} on {_date(p.get('collected_on'))} is above "
        f"{formatting.format_number(T['LIVER_ENZYME_X_ULN'].value, 1)} x the upper reference limit ({format_value(a, p['uln'], u)})."
    )


def _msg_hys(p: Mapping[str, Any], u: str) -> str:
    a = p["analyte"]
    return (
        f"{_name(a)} {format_value(a, p['value'], u)} on {_date(p.get('collected_on'))} (> "
        f"{formatting.format_number(T['LIVER_ENZYME_X_ULN'].value, 1)} x ULN {format_value(a, p['uln'], u)}) with total bilirubin "
        f"{format_value('bilirubin_total', p['bilirubin'], u)} on {_date(p.get('bilirubin_on'))} (> "
        f"{formatting.format_number(T['HYS_LAW_BILIRUBIN_X_ULN'].value, 1)} x ULN {format_value('bilirubin_total', p['bilirubin_uln'], u)}): "
        "possible drug-induced liver injury (Hy's law)."
    )


def _drug_names(codes: Iterable[str]) -> str:
    return " and ".join(catalogue.DRUGS[c].name if c in catalogue.DRUGS else c for c in codes)


def _msg_hypo_start(p: Mapping[str, Any], u: str) -> str:
    return (
        f"Metreleptin started on {_date(p.get('start_date'))} while {_drug_names(p.get('drugs', []))} was active: "
        "risk of hypoglycaemia; consider reducing the insulin or sulfonylurea dose."
    )


def _msg_dose(p: Mapping[str, Any], u: str) -> str:
    weight = f" at {p['weight_kg']} kg" if p.get("weight_kg") else " (no weight recorded)"
    per_kg = ""
    if p.get("weight_kg"):
        per_kg = f" ({formatting.format_number(D(p['dose']) / D(p['weight_kg']), 3)} mg/kg/day)"
    return (
        f"Metreleptin {p['dose']} mg/day{per_kg} from {_date(p.get('effective_date'))} is above the label maximum "
        f"of {formatting.format_number(D(p['max_mg']), 2)} mg/day{weight}."
    )


def _msg_loss(p: Mapping[str, Any], u: str) -> str:
    parts = []
    if p.get("hba1c"):
        h = p["hba1c"]
        rise = formatting.format_number(D(h["value"]) - D(h["nadir"]), 1)
        parts.append(
            f"HbA1c {format_value('hba1c', h['value'], u)} on {h['on']} is {rise} %-points above its on-treatment "
            f"nadir {format_value('hba1c', h['nadir'], u)} ({h['nadir_on']})"
        )
    if p.get("triglycerides"):
        t = p["triglycerides"]
        with localcontext() as ctx:
            ctx.prec = 28
            pct = formatting.format_number((D(t["value"]) - D(t["nadir"])) * 100 / D(t["nadir"]), 0)
        parts.append(
            f"triglycerides {format_value('triglycerides', t['value'], u)} on {t['on']} are {pct} % above their "
            f"on-treatment nadir {format_value('triglycerides', t['nadir'], u)} ({t['nadir_on']})"
        )
    text = "; ".join(parts)
    return (
        f"Possible loss of metreleptin effect (course from {_date(p.get('start_date'))}): {text[:1].upper()}{text[1:]}. "
        "Consider testing for neutralising antibodies."
    )


def _msg_non_response(p: Mapping[str, Any], u: str) -> str:
    bits = []
    if p.get("hba1c_change") is not None:
        bits.append(f"HbA1c change {formatting.format_number(D(p['hba1c_change']), 1)} %-points")
    if p.get("tg_percent_change") is not None:
        bits.append(f"triglyceride change {formatting.format_number(D(p['tg_percent_change']), 0)} %")
    return f"No metreleptin response at month 12 (course from {_date(p.get('start_date'))}): " + ", ".join(bits) + "."


def _msg_after_stop(p: Mapping[str, Any], u: str) -> str:
    return (
        f"Triglycerides {format_value('triglycerides', p['value'], u)} on {_date(p.get('collected_on'))}, "
        f"{p.get('days')} days after metreleptin stopped ({_date(p.get('end_date'))}), at or above "
        f"{format_value('triglycerides', p['threshold'], u)}: rebound hypertriglyceridaemia, pancreatitis risk."
    )


def _msg_weight(p: Mapping[str, Any], u: str) -> str:
    return (
        f"Weight fell {p['percent']} % on metreleptin, from {p['from_kg']} kg ({p['from_on']}) to {p['to_kg']} kg "
        f"({p['to_on']})."
    )


def _msg_lymphoma(p: Mapping[str, Any], u: str) -> str:
    return (
        f"Metreleptin (from {_date(p.get('start_date'))}) in acquired generalized lipodystrophy: T-cell lymphoma "
        "has been reported; watch for lymphadenopathy and blood count changes."
    )


def _msg_overdue(p: Mapping[str, Any], u: str) -> str:
    last = p.get("last") or {}
    bits = [f"{_name(a)} (last {last.get(a) or 'never'})" for a in p.get("missing", []) if a in catalogue.ANALYTES]
    return f"Monitoring overdue on metreleptin: no {' and no '.join(bits)} in the last {p.get('days')} days."


def _msg_unit(p: Mapping[str, Any], u: str) -> str:
    a = p["analyte"]
    return (
        f"{_name(a)} {format_value(a, p['value'], u)} on {_date(p.get('collected_on'))} differs by "
        f"{formatting.format_number(T['UNIT_ERROR_RATIO'].value, 0)} x or more from the median {format_value(a, p['median'], u)} of "
        f"{p.get('n_prior')} previous values: check the unit."
    )


# --------------------------------------------------------------------------------------
# The rule table
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    severity: str
    state: bool  # state rules resolve themselves; event rules stay until acknowledged
    subject: str  # lab / course / dose / visit / patient
    find: Callable[[PatientRecord], list[AlertCandidate]]
    message: Callable[[Mapping[str, Any], str], str]


def _r(code, title, severity, subject, find, message, *, state=False) -> Rule:
    return Rule(code, title, severity, state, subject, find, message)


RULES: dict[str, Rule] = {
    r.code: r
    for r in [
        _r(
            "TG_SEVERE",
            "Severe hypertriglyceridaemia",
            CRITICAL,
            "lab",
            rule_triglycerides,
            lambda p, u: _msg_tg(p, u, "TG_SEVERE"),
        ),
        _r(
            "TG_VERY_HIGH",
            "Very high triglycerides",
            WARNING,
            "lab",
            rule_triglycerides,
            lambda p, u: _msg_tg(p, u, "TG_VERY_HIGH"),
        ),
        _r("LIVER_ENZYMES_HIGH", "Liver enzymes > 3 x ULN", WARNING, "lab", rule_liver, _msg_liver),
        _r("HYS_LAW", "Hy's law", CRITICAL, "lab", rule_liver, _msg_hys),
        _r(
            "HYPOGLYCEMIA",
            "Hypoglycaemia",
            CRITICAL,
            "lab",
            rule_glucose,
            lambda p, u: _msg_glucose(p, u, "HYPOGLYCEMIA"),
        ),
        _r("LOW_GLUCOSE", "Low glucose", WARNING, "lab", rule_glucose, lambda p, u: _msg_glucose(p, u, "LOW_GLUCOSE")),
        _r(
            "HYPO_RISK_AT_START",
            "Hypoglycaemia risk at metreleptin start",
            WARNING,
            "course",
            rule_hypo_risk_at_start,
            _msg_hypo_start,
        ),
        _r(
            "METRELEPTIN_DOSE_ABOVE_MAX",
            "Metreleptin dose above label maximum",
            WARNING,
            "dose",
            rule_dose_above_max,
            _msg_dose,
        ),
        _r(
            "METRELEPTIN_LOSS_OF_EFFECT",
            "Possible loss of metreleptin effect",
            WARNING,
            "course",
            rule_loss_of_effect,
            _msg_loss,
        ),
        _r(
            "METRELEPTIN_NON_RESPONSE",
            "No metreleptin response at month 12",
            INFO,
            "course",
            rule_non_response,
            _msg_non_response,
        ),
        _r(
            "TG_AFTER_STOP",
            "Triglyceride rebound after stopping metreleptin",
            WARNING,
            "lab",
            rule_tg_after_stop,
            _msg_after_stop,
        ),
        _r("WEIGHT_LOSS", "Weight loss on metreleptin", WARNING, "visit", rule_weight_loss, _msg_weight),
        _r(
            "LYMPHOMA_VIGILANCE",
            "Lymphoma vigilance (AGL on metreleptin)",
            INFO,
            "course",
            rule_lymphoma_vigilance,
            _msg_lymphoma,
        ),
        _r(
            "MONITORING_OVERDUE",
            "Monitoring overdue",
            INFO,
            "patient",
            rule_monitoring_overdue,
            _msg_overdue,
            state=True,
        ),
        _r("POSSIBLE_UNIT_ERROR", "Possible unit error", INFO, "lab", rule_unit_error, _msg_unit),
    ]
}

RULE_CHOICES = [(r.code, r.title) for r in RULES.values()]
STATE_RULES = frozenset(code for code, r in RULES.items() if r.state)


def evaluate_alerts(record: PatientRecord) -> list[AlertCandidate]:
    """Every alert the record calls for, once per (rule, subject), in rule-table order."""
    finders: list[Callable[[PatientRecord], list[AlertCandidate]]] = []
    for rule in RULES.values():
        if rule.find not in finders:
            finders.append(rule.find)
    out: dict[tuple[str, str], AlertCandidate] = {}
    for find in finders:
        for c in find(record):
            out.setdefault((c.rule, c.subject_key), c)
    return list(out.values())


def render_alert_message(rule: str, params: Mapping[str, Any], unit_system: str) -> str:
    """The alert's message with its values in ``unit_system`` ("conventional" or "si").

    Unknown rules or incomplete params fall back to the rule title, never an error: the
    message is shown in lists that must not break on one bad row.
    """
    spec = RULES.get(rule)
    if spec is None:
        return rule
    try:
        return spec.message(params or {}, unit_system)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return spec.title
