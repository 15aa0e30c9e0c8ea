"""Alert messages: the text of each rule, in the viewer's unit system.

Values and thresholds go through ``clinical.formatting`` like every other surface, so a
message reads the same number as the chart next to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, localcontext
from typing import Any

from clinical import catalogue, formatting
from clinical.catalogue import THRESHOLDS
from clinical.dates import human_date


def format_value(analyte: str, canonical: Decimal | str, unit_system: str) -> str:
    """A value or threshold with its unit, as every other surface shows it."""
    return formatting.format_measure(canonical, analyte=analyte, system=unit_system)


def _date(iso: str | None) -> str:
    return human_date(iso)


def _name(analyte: str) -> str:
    return catalogue.ANALYTES[analyte].name


def message_tg(p: Mapping[str, Any], u: str, rule: str) -> str:
    value = format_value("triglycerides", p["value"], u)
    limit = format_value("triglycerides", p["threshold"], u)
    if rule == "TG_SEVERE":
        return (
            f"Triglycerides {value} on {_date(p.get('collected_on'))}, at or above {limit}: risk of acute pancreatitis."
        )
    return f"Triglycerides {value} on {_date(p.get('collected_on'))}, at or above {limit} (very high)."


def message_glucose(p: Mapping[str, Any], u: str, rule: str) -> str:
    value = format_value("glucose", p["value"], u)
    limit = format_value("glucose", p["threshold"], u)
    if rule == "HYPERGLYCEMIA_SEVERE":
        return (
            f"Glucose {value} on {_date(p.get('collected_on'))}, at or above {limit}: the range of a "
            "hyperglycaemic crisis, fasting or not."
        )
    if rule == "HYPOGLYCEMIA":
        return (
            f"Glucose {value} on {_date(p.get('collected_on'))}, below {limit}: clinically significant hypoglycaemia."
        )
    return f"Glucose {value} on {_date(p.get('collected_on'))}, below {limit}: low glucose."


def message_liver(p: Mapping[str, Any], u: str) -> str:
    a = p["analyte"]
    return (
        f"{_name(a)} {format_value(a, p['value'], u)} on {_date(p.get('collected_on'))} is above "
        f"{formatting.format_number(THRESHOLDS['LIVER_ENZYME_X_ULN'].value, 1)} x the upper reference limit ({format_value(a, p['uln'], u)})."
    )


def message_hys(p: Mapping[str, Any], u: str) -> str:
    a = p["analyte"]
    return (
        f"{_name(a)} {format_value(a, p['value'], u)} on {_date(p.get('collected_on'))} (> "
        f"{formatting.format_number(THRESHOLDS['LIVER_ENZYME_X_ULN'].value, 1)} x ULN {format_value(a, p['uln'], u)}) with total bilirubin "
        f"{format_value('bilirubin_total', p['bilirubin'], u)} on {_date(p.get('bilirubin_on'))} (> "
        f"{formatting.format_number(THRESHOLDS['HYS_LAW_BILIRUBIN_X_ULN'].value, 1)} x ULN {format_value('bilirubin_total', p['bilirubin_uln'], u)}): "
        "possible drug-induced liver injury (Hy's law)."
    )


def _drug_names(codes: Iterable[str]) -> str:
    return " and ".join(catalogue.DRUGS[c].name if c in catalogue.DRUGS else c for c in codes)


def message_hypo_start(p: Mapping[str, Any], u: str) -> str:
    return (
        f"Metreleptin started on {_date(p.get('start_date'))} while {_drug_names(p.get('drugs', []))} was active: "
        "risk of hypoglycaemia; consider reducing the insulin or sulfonylurea dose."
    )


def message_dose(p: Mapping[str, Any], u: str) -> str:
    weight = (
        f" at {p['weight_kg']} kg"
        if p.get("weight_kg")
        else " (no weight recorded: only the 10 mg/day maximum checked)"
    )
    if p.get("weight_kg") and p.get("weight_after_dose"):
        weight += f" (no weight on or before the dose; weight of {_date(p.get('weight_on'))}, after it, used)"
    per_kg = ""
    if p.get("weight_kg"):
        per_kg = f" ({formatting.format_number(Decimal(p['dose']) / Decimal(p['weight_kg']), 3)} mg/kg/day)"
    return (
        f"Metreleptin {p['dose']} mg/day{per_kg} from {_date(p.get('effective_date'))} is above the label maximum "
        f"of {formatting.format_number(Decimal(p['max_mg']), 2)} mg/day{weight}."
    )


def message_loss(p: Mapping[str, Any], u: str) -> str:
    parts = []
    if p.get("hba1c"):
        h = p["hba1c"]
        rise = formatting.format_number(Decimal(h["value"]) - Decimal(h["nadir"]), 1)
        parts.append(
            f"HbA1c {format_value('hba1c', h['value'], u)} on {_date(h['on'])} is {rise} %-points above its on-treatment "
            f"nadir {format_value('hba1c', h['nadir'], u)} ({_date(h['nadir_on'])})"
        )
    if p.get("triglycerides"):
        t = p["triglycerides"]
        with localcontext() as ctx:
            ctx.prec = 28
            pct = formatting.format_number((Decimal(t["value"]) - Decimal(t["nadir"])) * 100 / Decimal(t["nadir"]), 0)
        parts.append(
            f"triglycerides {format_value('triglycerides', t['value'], u)} on {_date(t['on'])} are {pct} % above their "
            f"on-treatment nadir {format_value('triglycerides', t['nadir'], u)} ({_date(t['nadir_on'])})"
        )
    text = "; ".join(parts)
    return (
        f"Possible loss of metreleptin effect (course from {_date(p.get('start_date'))}): {text[:1].upper()}{text[1:]}. "
        "Consider testing for neutralising antibodies."
    )


def message_non_response(p: Mapping[str, Any], u: str) -> str:
    bits = []
    if p.get("hba1c_change") is not None:
        bits.append(f"HbA1c change {formatting.format_number(Decimal(p['hba1c_change']), 1)} %-points")
    if p.get("tg_percent_change") is not None:
        bits.append(f"triglyceride change {formatting.format_number(Decimal(p['tg_percent_change']), 0)} %")
    return f"No metreleptin response at month 12 (course from {_date(p.get('start_date'))}): " + ", ".join(bits) + "."


def message_after_stop(p: Mapping[str, Any], u: str) -> str:
    return (
        f"Triglycerides {format_value('triglycerides', p['value'], u)} on {_date(p.get('collected_on'))}, "
        f"{p.get('days')} days after metreleptin stopped ({_date(p.get('end_date'))}), at or above "
        f"{format_value('triglycerides', p['threshold'], u)}: rebound hypertriglyceridaemia, pancreatitis risk."
    )


def message_weight(p: Mapping[str, Any], u: str) -> str:
    return (
        f"Weight fell {p['percent']} % on metreleptin, from {p['from_kg']} kg ({_date(p['from_on'])}) to {p['to_kg']} kg "
        f"({_date(p['to_on'])})."
    )


def message_lymphoma(p: Mapping[str, Any], u: str) -> str:
    return (
        f"Metreleptin (from {_date(p.get('start_date'))}) in acquired generalized lipodystrophy: T-cell lymphoma "
        "has been reported; watch for lymphadenopathy and blood count changes."
    )


def message_overdue(p: Mapping[str, Any], u: str) -> str:
    last = p.get("last") or {}
    bits = [
        f"{_name(a)} (last {_date(last.get(a)) if last.get(a) else 'never'})"
        for a in p.get("missing", [])
        if a in catalogue.ANALYTES
    ]
    return f"Monitoring overdue on metreleptin: no {' and no '.join(bits)} in the last {p.get('days')} days."


def message_unit(p: Mapping[str, Any], u: str) -> str:
    a = p["analyte"]
    return (
        f"{_name(a)} {format_value(a, p['value'], u)} on {_date(p.get('collected_on'))} differs by "
        f"{formatting.format_number(THRESHOLDS['UNIT_ERROR_RATIO'].value, 0)} x or more from the median {format_value(a, p['median'], u)} of "
        f"{p.get('n_prior')} previous values: check the unit."
    )
