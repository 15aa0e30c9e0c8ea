"""The export's tidy tables as data: columns (with their dictionary entries) and the SQL
that reads them, joined to the de-identified cohort.

Every table is one SELECT over the clinical tables joined to ``x``, the cohort (patient
id -> pseudonym, date offset, anchor date, shown subtype, generalised flag) passed as
arrays, so the same statement streams through ``COPY ... TO STDOUT`` (CSV) or a
server-side cursor (Parquet, FHIR, Phenopackets) and works on a read-only replica (no
temporary tables). Free-text columns (visit notes, injection-site notes, diagnosis
notes, course notes, dose-change reasons, alert notes) are simply never selected.

Dates are shifted (``col - x.shift``) or turned into days since the anchor
(``col - x.anchor``, column renamed ``<name>_days``) by :func:`select_sql`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clinical import catalogue
from clinical.models import CourseResponse, DoseChange, LabResult, TreatmentCourse, TrendSnapshot, Visit
from registry.models import Diagnosis, GeneticFinding, PhenotypeObservation

SHIFTED = "shifted"
RELATIVE = "relative"
DATE_MODES = (SHIFTED, RELATIVE)

STRING, INTEGER, NUMBER, BOOLEAN, DATE = "string", "integer", "number", "boolean", "date"

T_VISIT = Visit._meta.db_table
T_LAB = LabResult._meta.db_table
T_COURSE = TreatmentCourse._meta.db_table
T_DOSE = DoseChange._meta.db_table
T_TREND = TrendSnapshot._meta.db_table
T_RESPONSE = CourseResponse._meta.db_table
T_DX = Diagnosis._meta.db_table
T_GENE = GeneticFinding._meta.db_table
T_HPO = PhenotypeObservation._meta.db_table

# ord: the patient's position in pseudonym order (the cohort is sorted by pseudonym), so
# that rows come out grouped by patient in pseudonym order through a cheap integer sort.
COHORT_JOIN = (
    "unnest(%(c_ids)s::bigint[], %(c_pids)s::text[], %(c_shift)s::int[], %(c_anchor)s::date[], "
    "%(c_subtype)s::text[], %(c_gen)s::bool[], %(c_ord)s::int[]) "
    "AS x(patient_id, pid, shift, anchor, subtype, generalised, ord)"
)
SUBTYPE_JOIN = (
    "unnest(%(s_code)s::text[], %(s_group)s::text[], %(s_orpha)s::text[], %(s_omim)s::text[], "
    "%(s_mondo)s::text[], %(s_icd10)s::text[]) AS st(code, grp, orpha, omim, mondo, icd10)"
)
# Every (analyte, unit as stored) of the lab table with its LOINC, UCUM and the analyte's
# canonical unit: one lookup per lab row instead of two.
UNIT_JOIN = (
    "unnest(%(u_analyte)s::text[], %(u_key)s::text[], %(u_loinc)s::text[], %(u_ucum)s::text[], "
    "%(u_canon)s::text[]) AS u(analyte, ukey, loinc, ucum, canon)"
)
ANALYTE_JOIN = "unnest(%(a_code)s::text[], %(a_unit)s::text[], %(a_ucum)s::text[]) AS an(code, unit, ucum)"
DRUG_JOIN = "unnest(%(d_code)s::text[], %(d_class)s::text[]) AS dr(code, cls)"

# Joined to the cohort's ids rather than "= ANY(array)": ANY scans the whole array for
# every row, a join hashes it once.
VISIT_NUMBERS = (
    f"(SELECT v2.id, row_number() OVER (PARTITION BY v2.patient_id ORDER BY v2.visit_date, v2.id) AS n "
    f"FROM {T_VISIT} v2 JOIN unnest(%(c_ids)s::bigint[]) AS vi(id) ON vi.id = v2.patient_id)"
)
COURSE_NUMBERS = (
    f"(SELECT c2.id, row_number() OVER (PARTITION BY c2.patient_id ORDER BY c2.start_date, c2.id) AS n "
    f"FROM {T_COURSE} c2 JOIN unnest(%(c_ids)s::bigint[]) AS ci(id) ON ci.id = c2.patient_id)"
)

PSEUDONYM_DESC = "Pseudonym of the patient: keyed HMAC of the registry's patient id, stable within the project"


@dataclass(frozen=True)
class Col:
    name: str
    sql: str
    type: str
    description: str
    unit: str = ""
    code_system: str = ""
    # Text not drawn from a closed vocabulary (codes, choices, the catalogue): neutralised
    # against spreadsheet formulas in CSV. Closed-vocabulary values never start with = + - @.
    open_text: bool = False

    @property
    def is_date(self) -> bool:
        return self.type == DATE

    def out_name(self, dates: str) -> str:
        return f"{self.name}_days" if self.is_date and dates == RELATIVE else self.name

    def out_type(self, dates: str) -> str:
        return INTEGER if self.is_date and dates == RELATIVE else self.type

    def out_description(self, dates: str) -> str:
        if self.is_date and dates == RELATIVE:
            return f"{self.description}: days since the patient's anchor date (see patients.anchor)"
        if self.is_date:
            return f"{self.description} (shifted by the patient's offset of 0-364 days)"
        return self.description

    def out_unit(self, dates: str) -> str:
        return "d" if self.is_date and dates == RELATIVE else self.unit


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Col, ...]
    from_sql: str
    order_by: str
    date_filter: str = ""  # a SQL condition using %(date_from)s / %(date_to)s
    count_from: str = ""  # a cheaper FROM for counting (joins that never change the count left out)


def _pid() -> Col:
    return Col("patient_id", "x.pid", STRING, PSEUDONYM_DESC)


def _month_cols() -> tuple[Col, ...]:
    out: list[Col] = []
    for m in ("3", "6", "12"):
        j = f"t.months->'{m}'"
        out += [
            Col(f"month{m}_value", f"({j}->>'value')::float8", NUMBER, f"Value closest to month {m}", "canonical unit"),
            Col(f"month{m}_on", f"({j}->>'on')::date", DATE, f"Date of the month-{m} value"),
            Col(f"month{m}_change", f"({j}->>'change')::float8", NUMBER, f"Month-{m} value minus baseline"),
            Col(f"month{m}_percent_change", f"({j}->>'percent_change')::float8", NUMBER, f"Month-{m} change", "%"),
        ]
    return tuple(out)


TABLES: tuple[Table, ...] = (
    Table(
        "diagnoses",
        "Lipodystrophy diagnoses (no notes)",
        (
            _pid(),
            Col("subtype", "CASE WHEN x.generalised THEN st.grp ELSE d.subtype END", STRING,
                "Registry subtype code; the subtype group where the small-cell check generalised it",
                code_system="registry subtype catalogue"),
            Col("subtype_group", "st.grp", STRING, "Subtype group (CGL, FPLD, AGL, APL, ...)"),
            Col("basis", "d.basis", STRING, "Basis of the diagnosis: clinical, genetic, clinical_and_genetic"),
            Col("orpha", "CASE WHEN x.generalised THEN NULL ELSE st.orpha END", STRING, "Orphanet code", code_system="ORPHA"),
            Col("omim", "CASE WHEN x.generalised THEN NULL ELSE st.omim END", STRING, "OMIM phenotype number", code_system="OMIM"),
            Col("mondo", "CASE WHEN x.generalised THEN NULL ELSE st.mondo END", STRING, "MONDO id", code_system="MONDO"),
            Col("icd10", "st.icd10", STRING, "ICD-10 code", code_system="ICD-10"),
            Col("onset_date", "d.onset_date", DATE, "Onset of lipodystrophy"),
            Col("diagnosis_date", "d.diagnosis_date", DATE, "Date of diagnosis"),
        ),
        f"FROM {T_DX} d JOIN {COHORT_JOIN} ON x.patient_id = d.patient_id LEFT JOIN {SUBTYPE_JOIN} ON st.code = d.subtype",
        "x.pid, d.diagnosis_date NULLS LAST, d.id",
    ),
    Table(
        "genetics",
        "Genetic findings (HGNC gene, HGVS notation, ACMG class)",
        (
            _pid(),
            Col("gene", "g.gene", STRING, "Gene symbol", code_system="HGNC", open_text=True),
            Col("transcript", "g.transcript", STRING, "RefSeq transcript", code_system="RefSeq", open_text=True),
            Col("hgvs_c", "g.hgvs_c", STRING, "Variant, coding DNA notation", code_system="HGVS", open_text=True),
            Col("hgvs_p", "g.hgvs_p", STRING, "Variant, protein notation", code_system="HGVS", open_text=True),
            Col("zygosity", "g.zygosity", STRING, "Zygosity"),
            Col("acmg_class", "g.acmg_class", STRING, "ACMG/AMP classification", code_system="ACMG"),
            Col("reported_on", "g.reported_on", DATE, "Date of the genetic report"),
        ),
        f"FROM {T_GENE} g JOIN {COHORT_JOIN} ON x.patient_id = g.patient_id",
        "x.pid, g.gene, g.id",
    ),
    Table(
        "phenotypes",
        "Phenotypic features (HPO); excluded = looked for and absent",
        (
            _pid(),
            Col("hpo_id", "h.hpo_id", STRING, "HPO term id", code_system="HPO", open_text=True),
            Col("label", "h.label", STRING, "HPO term label", code_system="HPO", open_text=True),
            Col("excluded", "h.excluded", BOOLEAN, "True when the feature was looked for and absent"),
            Col("observed_on", "h.observed_on", DATE, "Date of the observation"),
        ),
        f"FROM {T_HPO} h JOIN {COHORT_JOIN} ON x.patient_id = h.patient_id",
        "x.pid, h.observed_on, h.id",
        "h.observed_on BETWEEN %(date_from)s AND %(date_to)s",
    ),
    Table(
        "visits",
        "Clinic visits: anthropometry, blood pressure, DXA, liver imaging, injection sites (no notes)",
        (
            _pid(),
            Col("visit_number", "vn.n", INTEGER, "Visit number within the patient, in date order (joins labs)"),
            Col("visit_date", "v.visit_date", DATE, "Date of the visit"),
            Col("weight_kg", "v.weight_kg", NUMBER, "Body weight", "kg", "UCUM"),
            Col("height_cm", "v.height_cm", NUMBER, "Height", "cm", "UCUM"),
            Col("bmi", "round(v.weight_kg / ((v.height_cm / 100) * (v.height_cm / 100)), 1)", NUMBER,
                "Body-mass index from weight and height", "kg/m2", "UCUM"),
            Col("waist_cm", "v.waist_cm", NUMBER, "Waist circumference", "cm", "UCUM"),
            Col("hip_cm", "v.hip_cm", NUMBER, "Hip circumference", "cm", "UCUM"),
            Col("systolic_bp", "v.systolic_bp", INTEGER, "Systolic blood pressure", "mm[Hg]", "UCUM"),
            Col("diastolic_bp", "v.diastolic_bp", INTEGER, "Diastolic blood pressure", "mm[Hg]", "UCUM"),
            Col("dxa_total_fat_pct", "v.dxa_total_fat_pct", NUMBER, "DXA total body fat", "%", "UCUM"),
            Col("dxa_trunk_fat_pct", "v.dxa_trunk_fat_pct", NUMBER, "DXA trunk fat", "%", "UCUM"),
            Col("dxa_leg_fat_pct", "v.dxa_leg_fat_pct", NUMBER, "DXA leg fat", "%", "UCUM"),
            Col("dxa_arm_fat_pct", "v.dxa_arm_fat_pct", NUMBER, "DXA arm fat", "%", "UCUM"),
            Col("liver_ultrasound", "v.liver_ultrasound", STRING, "Liver ultrasound grade (empty: not done)"),
            Col("liver_pdff_pct", "v.liver_pdff_pct", NUMBER, "Liver MRI proton-density fat fraction", "%", "UCUM"),
            Col("liver_stiffness_kpa", "v.liver_stiffness_kpa", NUMBER, "Liver stiffness (elastography)", "kPa", "UCUM"),
            Col("liver_cap_dbm", "v.liver_cap_dbm", INTEGER, "Controlled attenuation parameter", "dB/m", "UCUM"),
            Col("injection_site_finding", "v.injection_site_finding", STRING, "Injection-site examination (empty: not examined)"),
            Col("rotation_education_given", "v.rotation_education_given", BOOLEAN, "Injection-site rotation education given"),
        ),
        f"FROM {T_VISIT} v JOIN {COHORT_JOIN} ON x.patient_id = v.patient_id JOIN {VISIT_NUMBERS} vn ON vn.id = v.id",
        "x.pid, v.visit_date, v.id",
        "v.visit_date BETWEEN %(date_from)s AND %(date_to)s",
        f"FROM {T_VISIT} v JOIN {COHORT_JOIN} ON x.patient_id = v.patient_id",
    ),
    Table(
        "labs",
        "Lab results in long form: value and unit as reported, plus the canonical value",
        (
            _pid(),
            Col("visit_number", "vn.n", INTEGER, "Visit the sample belongs to (visits.visit_number), if any"),
            Col("analyte", "l.analyte", STRING, "Registry analyte code", code_system="registry analyte catalogue"),
            Col("loinc", "u.loinc", STRING, "LOINC code matching the reported unit", code_system="LOINC"),
            Col("value", "l.value", NUMBER, "Value as reported", "see unit"),
            Col("unit", "l.unit", STRING, "Unit as reported", open_text=True),
            Col("ucum", "u.ucum", STRING, "UCUM code of the reported unit", code_system="UCUM"),
            Col("canonical_value", "l.canonical_value", NUMBER, "Value in the analyte's canonical unit", "see canonical_unit"),
            Col("canonical_unit", "u.canon", STRING, "The analyte's canonical unit", code_system="UCUM"),
            Col("collected_on", "l.collected_on", DATE, "Date the sample was collected"),
            Col("fasting", "l.fasting", BOOLEAN, "Fasting sample (empty: not recorded)"),
            Col("reference_low", "l.reference_low", NUMBER, "Lab's lower reference limit, in the reported unit", "see unit"),
            Col("reference_high", "l.reference_high", NUMBER, "Lab's upper reference limit, in the reported unit", "see unit"),
        ),
        f"FROM {T_LAB} l JOIN {COHORT_JOIN} ON x.patient_id = l.patient_id "
        f"LEFT JOIN {VISIT_NUMBERS} vn ON vn.id = l.visit_id "
        f"LEFT JOIN {UNIT_JOIN} ON u.analyte = l.analyte AND u.ukey = l.unit",
        "x.pid, l.collected_on, l.id",
        "l.collected_on BETWEEN %(date_from)s AND %(date_to)s",
        f"FROM {T_LAB} l JOIN {COHORT_JOIN} ON x.patient_id = l.patient_id",
    ),
    Table(
        "treatments",
        "Treatment courses (no notes)",
        (
            _pid(),
            Col("course_number", "cn.n", INTEGER, "Course number within the patient, in start order"),
            Col("drug", "c.drug", STRING, "Registry drug code", code_system="registry drug catalogue"),
            Col("drug_class", "dr.cls", STRING, "Drug class"),
            Col("start_date", "c.start_date", DATE, "Start of the course"),
            Col("end_date", "c.end_date", DATE, "End of the course (empty: ongoing)"),
            Col("stop_reason", "c.stop_reason", STRING, "Coded reason for stopping"),
            Col("tapered", "c.tapered", BOOLEAN, "Dose tapered before stopping"),
        ),
        f"FROM {T_COURSE} c JOIN {COHORT_JOIN} ON x.patient_id = c.patient_id "
        f"JOIN {COURSE_NUMBERS} cn ON cn.id = c.id LEFT JOIN {DRUG_JOIN} ON dr.code = c.drug",
        "x.pid, c.start_date, c.id",
        "c.start_date <= %(date_to)s AND (c.end_date IS NULL OR c.end_date >= %(date_from)s)",
    ),
    Table(
        "dose_changes",
        "Dose history of each course: the daily dose from the effective date on (no free-text reasons)",
        (
            _pid(),
            Col("course_number", "cn.n", INTEGER, "Course (treatments.course_number)"),
            Col("drug", "c.drug", STRING, "Registry drug code", code_system="registry drug catalogue"),
            Col("effective_date", "dc.effective_date", DATE, "Date from which the dose applies"),
            Col("dose", "dc.dose", NUMBER, "Dose", "see dose_unit"),
            Col("dose_unit", "dc.dose_unit", STRING, "Dose unit (per day or per week)", open_text=True),
        ),
        f"FROM {T_DOSE} dc JOIN {T_COURSE} c ON c.id = dc.course_id JOIN {COHORT_JOIN} ON x.patient_id = c.patient_id "
        f"JOIN {COURSE_NUMBERS} cn ON cn.id = c.id",
        "x.pid, cn.n, dc.effective_date, dc.id",
        "c.start_date <= %(date_to)s AND (c.end_date IS NULL OR c.end_date >= %(date_from)s)",
    ),
    Table(
        "trends",
        "Computed trend per patient and analyte, in canonical units (baseline, month 3/6/12, nadir, slope)",
        (
            _pid(),
            Col("analyte", "t.analyte", STRING, "Registry analyte code", code_system="registry analyte catalogue"),
            Col("canonical_unit", "an.unit", STRING, "Unit of the values", code_system="UCUM"),
            Col("course_number", "cn.n", INTEGER, "Metreleptin course the baseline refers to, if any"),
            Col("n_values", "t.n_values", INTEGER, "Number of values"),
            Col("latest_value", "t.latest_value", NUMBER, "Latest value", "canonical unit"),
            Col("latest_on", "t.latest_on", DATE, "Date of the latest value"),
            Col("baseline_value", "t.baseline_value", NUMBER, "Baseline value (90 days up to the course start)", "canonical unit"),
            Col("baseline_on", "t.baseline_on", DATE, "Date of the baseline value"),
            Col("nadir_value", "t.nadir_value", NUMBER, "Lowest value on treatment", "canonical unit"),
            Col("nadir_on", "t.nadir_on", DATE, "Date of the nadir"),
            Col("slope_per_year", "t.slope_per_year", NUMBER, "Theil-Sen slope over the last 730 days", "canonical unit per year"),
            *_month_cols(),
        ),
        f"FROM {T_TREND} t JOIN {COHORT_JOIN} ON x.patient_id = t.patient_id "
        f"LEFT JOIN {COURSE_NUMBERS} cn ON cn.id = t.course_id LEFT JOIN {ANALYTE_JOIN} ON an.code = t.analyte",
        "x.pid, t.analyte",
    ),
    Table(
        "responses",
        "Month-12 metreleptin response per course",
        (
            _pid(),
            Col("course_number", "cn.n", INTEGER, "Course (treatments.course_number)"),
            Col("response_class", "r.response_class", STRING,
                "strong_responder, responder, non_responder or insufficient_data"),
            Col("hba1c_change", "r.hba1c_change", NUMBER, "HbA1c change at month 12", "%-points"),
            Col("tg_percent_change", "r.tg_percent_change", NUMBER, "Triglyceride change at month 12", "%"),
        ),
        f"FROM {T_RESPONSE} r JOIN {T_COURSE} c ON c.id = r.course_id JOIN {COHORT_JOIN} ON x.patient_id = c.patient_id "
        f"JOIN {COURSE_NUMBERS} cn ON cn.id = c.id",
        "x.pid, cn.n",
    ),
)  # fmt: skip
TABLES_BY_NAME = {t.name: t for t in TABLES}

# The patients table is built in Python from the de-identified cohort (it is small).
PATIENT_COLUMNS: tuple[Col, ...] = (
    _pid(),
    Col("sex", "", STRING, "Sex at birth: female, male, other, unknown"),
    Col("birth_year", "", INTEGER, "Year of birth (empty for ages 90 or over, or when generalised)"),
    Col("age_at_export", "", STRING, "Age in years at export, '90+' for 90 or over"),
    Col("birth_decade", "", STRING, "Birth decade (quasi-identifier after the small-cell check)"),
    Col("vital_status", "", STRING, "alive, deceased, unknown"),
    Col("subtype", "", STRING, "Primary subtype; the subtype group where generalised", code_system="registry subtype catalogue"),
    Col("site_country", "", STRING, "Country of the home site (ISO 3166-1 alpha-2), 'other' where generalised",
        code_system="ISO 3166-1"),
    Col("anchor", "", STRING, "What the patient's anchor date is: diagnosis, first_visit, first_lab or empty"),
    Col("generalised", "", BOOLEAN, "True when the small-cell check generalised this patient's quasi-identifiers"),
)  # fmt: skip


# --------------------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------------------

# The same rule as deid.neutralise_cell: a leading = + - @ tab or CR gets an apostrophe.
_NEUTRALISE = "CASE WHEN left({e}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN '''' || {e} ELSE {e} END"


_FIXED_WIDTH = (DATE, INTEGER, BOOLEAN)
_ORDER_ITEM = re.compile(r"(?P<expr>.+?)(?P<mods>(?: ASC| DESC)?(?: NULLS FIRST| NULLS LAST)?)")


def _sorted_value(col: Col, dates: str) -> str:
    """The column's value as the sort carries it: as stored, dates already moved."""
    if col.is_date:
        return f"(({col.sql}) - x.anchor)" if dates == RELATIVE else f"(({col.sql}) - x.shift)"
    return col.sql


def _written_value(col: Col, ref: str, *, for_csv: bool) -> str:
    """What the export writes, made from the sorted value ``ref``."""
    if col.type == NUMBER and not for_csv:
        return f"({ref})::float8"  # typed formats: a float, not a Decimal per cell
    if col.type == NUMBER:
        return f"trim_scale(({ref})::numeric)"  # 1200, not 1200.000000: the digits as reported
    if col.type == STRING and for_csv and col.open_text:
        return _NEUTRALISE.format(e=ref)
    if col.type == BOOLEAN and for_csv:  # spelled like the Python-written tables
        return f"CASE WHEN {ref} THEN 'true' WHEN NOT {ref} THEN 'false' END"
    return ref


def order_keys(table: Table) -> list[tuple[str, str]]:
    """(expression, modifiers) of the table's ORDER BY; the pseudonym order as the cohort's
    integer position."""
    items = table.order_by.replace("x.pid", "x.ord", 1).split(", ")
    return [(m["expr"], m["mods"]) for m in (_ORDER_ITEM.fullmatch(item.strip()) for item in items)]


def select_sql(table: Table, dates: str, *, for_csv: bool, filtered: bool) -> str:
    """The table's rows in export order, sorted narrow: the inner query sorts the values as
    stored (sort keys and fixed-width values first, where PostgreSQL reads them without
    walking the row), and the outer one turns them into what the export writes (trimmed
    numbers, neutralised text, spelled booleans) on rows already in order. The outer ORDER
    BY repeats the inner one, so the order stays a guarantee of the statement; PostgreSQL
    sees that the subquery delivers it and does not sort again."""
    keys = order_keys(table)
    by_width = sorted(enumerate(table.columns), key=lambda ic: ic[1].type not in _FIXED_WIDTH)
    inner = [f"{expr} AS k{i}" for i, (expr, _mods) in enumerate(keys)]
    inner += [f"{_sorted_value(col, dates)} AS c{i}" for i, col in by_width]
    outer = [
        f"{_written_value(col, f's.c{i}', for_csv=for_csv)} AS {col.out_name(dates)}"
        for i, col in enumerate(table.columns)
    ]
    where = f" WHERE {table.date_filter}" if filtered and table.date_filter else ""
    inner_order = ", ".join(f"{expr}{mods}" for expr, mods in keys)
    outer_order = ", ".join(f"s.k{i}{mods}" for i, (_expr, mods) in enumerate(keys))
    return (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} {table.from_sql}{where} "
        f"ORDER BY {inner_order}) AS s ORDER BY {outer_order}"
    )


def count_sql(table: Table, *, filtered: bool) -> str:
    where = f" WHERE {table.date_filter}" if filtered and table.date_filter else ""
    return f"SELECT count(*) {table.count_from or table.from_sql}{where}"


# --------------------------------------------------------------------------------------
# Catalogue lookups passed as arrays
# --------------------------------------------------------------------------------------


def _loinc_for(analyte: catalogue.Analyte, unit: catalogue.UnitConversion) -> str:
    """The LOINC code for a result reported in ``unit``: the SI code for the SI display
    unit when the analyte has one (e.g. triglycerides in mmol/L), else the first code."""
    si_unit = analyte.display.get(catalogue.SI)
    if analyte.loinc_si and si_unit and unit.unit == si_unit and si_unit != analyte.display.get(catalogue.CONVENTIONAL):
        return analyte.loinc_si[0]
    return analyte.loinc[0]


def unit_params(pairs) -> dict[str, list]:
    """LOINC, UCUM and canonical unit per (analyte, unit as stored), for every pair the lab
    table holds: the catalogue resolves each spelling (case, micro signs, aliases) once,
    so the SQL joins on the stored text as it is. A unit the catalogue does not know has
    no LOINC or UCUM code; an unknown analyte has no canonical unit either."""
    u_analyte, u_key, u_loinc, u_ucum, u_canon = [], [], [], [], []
    for code, unit in pairs:
        analyte = catalogue.ANALYTES.get(code)
        conv = analyte.unit(unit) if analyte else None
        u_analyte.append(code)
        u_key.append(unit)
        u_loinc.append(_loinc_for(analyte, conv) if conv else None)
        u_ucum.append((conv.ucum or conv.unit) if conv else None)
        u_canon.append(analyte.canonical_unit if analyte else None)
    return {"u_analyte": u_analyte, "u_key": u_key, "u_loinc": u_loinc, "u_ucum": u_ucum, "u_canon": u_canon}


def catalogue_params() -> dict[str, list]:
    analytes = list(catalogue.ANALYTES.values())
    subtypes = list(catalogue.SUBTYPES.values())
    drugs = list(catalogue.DRUGS.values())
    return {
        "a_code": [a.code for a in analytes],
        "a_unit": [a.canonical_unit for a in analytes],
        "a_ucum": [ucum_of(a) for a in analytes],
        "s_code": [s.code for s in subtypes],
        "s_group": [s.group for s in subtypes],
        "s_orpha": [s.orpha or None for s in subtypes],
        "s_omim": [s.omim or None for s in subtypes],
        "s_mondo": [s.mondo or None for s in subtypes],
        "s_icd10": [s.icd10 or None for s in subtypes],
        "d_code": [d.code for d in drugs],
        "d_class": [d.drug_class for d in drugs],
    }


def ucum_of(analyte: catalogue.Analyte) -> str:
    conv = analyte.units[0]
    return conv.ucum or conv.unit
