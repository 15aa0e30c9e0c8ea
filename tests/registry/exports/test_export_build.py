"""Research exports against the real database: PHI canaries, validity of every format,
the data dictionary, pseudonyms, small cells, formula cells, consent and site scope."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pyarrow.parquet as pq
import pytest
from django.core.exceptions import ValidationError
from google.protobuf import json_format
from phenopackets import Phenopacket

from registry import services as registry_services
from registry.exports import phenopackets as pp_writer
from registry.exports.build import FORMATS
from registry.models import PhenotypeObservation
from tests.factories import make_user

from .conftest import BIRTH_DATE_SPELLINGS, run_export

pytestmark = pytest.mark.django_db

FHIR_STATUS = {
    "Observation": {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"},
    "Encounter": {"planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error", "unknown"},
    "MedicationStatement": {"active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"},
}  # fmt: skip


def _csv_tables(entries: dict[str, bytes]) -> dict[str, list[dict]]:
    return {
        name.removesuffix(".csv"): list(csv.DictReader(io.StringIO(data.decode())))
        for name, data in entries.items()
        if name.endswith(".csv")
    }


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dates", ["shifted", "relative"])
def test_phi_canary_no_identity_no_dob_no_mrn_no_free_text(tmp_path, cohort, registry_admin, fmt, dates):
    entries = run_export(tmp_path, registry_admin, fmt, dates=dates, k=2)
    blob = b"\n".join(entries.values())
    assert len(entries) > 2
    for marker in cohort.all:
        assert marker.encode() not in blob, f"{marker} leaked into the {fmt} export"
        assert marker.lower().encode() not in blob.lower()
    for spelling in BIRTH_DATE_SPELLINGS:
        assert spelling.encode() not in blob
    for patient in cohort.patients:
        assert str(patient.public_id).encode() not in blob  # the registry's own id links back
        assert patient.registry_code.encode() not in blob
    # The export is not empty: the eight patients are there, under pseudonyms.
    manifest = json.loads(entries["manifest.json"])
    assert manifest["deidentification"]["small_cells"]["patients_considered"] == 8


def test_csv_bundle_tables_dictionary_and_manifest(tmp_path, cohort, registry_admin):
    entries = run_export(tmp_path, registry_admin, "csv", k=2)
    tables = _csv_tables(entries)
    assert {
        "patients", "diagnoses", "genetics", "phenotypes", "visits", "labs", "treatments", "dose_changes",
        "trends", "responses", "data_dictionary",
    } <= set(tables)  # fmt: skip
    dictionary = {(r["table"], r["column"]) for r in tables.pop("data_dictionary")}
    for name, data in entries.items():
        if name.endswith(".csv") and name != "data_dictionary.csv":
            header = next(csv.reader(io.StringIO(data.decode())))
            table = name.removesuffix(".csv")
            assert {(table, c) for c in header} == {k for k in dictionary if k[0] == table}, table
    labs = tables["labs"]
    tg = next(r for r in labs if r["analyte"] == "triglycerides")
    assert (tg["loinc"], tg["value"], tg["unit"], tg["canonical_unit"]) == ("2571-8", "1200", "mg/dL", "mmol/L")
    assert float(tg["canonical_value"]) == pytest.approx(13.548)
    patients = tables["patients"]
    assert len(patients) == 8 and all(p["birth_year"] == "1961" for p in patients)
    assert {p["site_country"] for p in patients} == {"FR", "DE"}
    visits = tables["visits"]
    assert "notes" not in visits[0] and "injection_site_notes" not in visits[0]
    manifest = json.loads(entries["manifest.json"])
    assert manifest["counts"]["labs"] == len(labs) == 24
    assert manifest["filters"]["dates"] == "shifted"
    assert manifest["compression"] == "deflate, level 1"
    for name, info in manifest["files"].items():
        import hashlib

        assert hashlib.sha256(entries[name]).hexdigest() == info["sha256"]


def test_dates_are_shifted_per_patient_consistently_or_relative(tmp_path, cohort, registry_admin):
    shifted = _csv_tables(run_export(tmp_path, registry_admin, "csv", k=2))
    relative = _csv_tables(run_export(tmp_path, registry_admin, "csv", k=2, dates="relative"))
    for visit in shifted["visits"]:
        day = dt.date.fromisoformat(visit["visit_date"])
        shift = (dt.date(2021, 4, 6) - day).days
        assert 0 <= shift <= 364
        # every date of the patient moves by the same amount
        lab_days = {r["collected_on"] for r in shifted["labs"] if r["patient_id"] == visit["patient_id"]}
        assert lab_days == {visit["visit_date"]}
    shifts = {(dt.date(2021, 4, 6) - dt.date.fromisoformat(v["visit_date"])).days for v in shifted["visits"]}
    assert len(shifts) > 1  # offsets differ between patients
    # relative: days since the diagnosis of 2016-02-01 (the earliest)
    assert {v["visit_date_days"] for v in relative["visits"]} == {str((dt.date(2021, 4, 6) - dt.date(2016, 2, 1)).days)}
    assert "visit_date" not in relative["visits"][0]
    assert {p["anchor"] for p in relative["patients"]} == {"diagnosis"}


def test_parquet_is_typed_and_covered_by_the_dictionary(tmp_path, cohort, registry_admin):
    entries = run_export(tmp_path, registry_admin, "parquet", k=2)
    dictionary = {
        (r["table"], r["column"]): r["type"]
        for r in csv.DictReader(io.StringIO(entries["data_dictionary.csv"].decode()))
    }
    seen = set()
    for name, data in entries.items():
        if not name.endswith(".parquet"):
            continue
        table = name.removesuffix(".parquet")
        arrow = pq.read_table(io.BytesIO(data))
        for field in arrow.schema:
            seen.add((table, field.name))
            kind = dictionary[(table, field.name)]
            assert str(field.type) == {"string": "string", "integer": "int64", "number": "double",
                                       "boolean": "bool", "date": "date32[day]"}[kind]  # fmt: skip
    assert seen == set(dictionary)
    labs = pq.read_table(io.BytesIO(entries["labs.parquet"])).to_pylist()
    assert len(labs) == 24
    assert isinstance(labs[0]["collected_on"], dt.date) and isinstance(labs[0]["value"], float)


@pytest.mark.parametrize("dates", ["shifted", "relative"])
def test_fhir_resources_validate_with_fhir_resources_r4b(tmp_path, cohort, registry_admin, dates):
    from fhir.resources.R4B import get_fhir_model_class

    entries = run_export(tmp_path, registry_admin, "fhir", k=2, dates=dates)
    kinds = {"Patient", "Condition", "Observation", "MedicationStatement", "Encounter"}
    assert {n.removesuffix(".ndjson") for n in entries if n.endswith(".ndjson")} == kinds
    seen = {}
    for kind in kinds:
        lines = entries[f"{kind}.ndjson"].decode().splitlines()
        assert lines, kind
        for line in lines:
            data = json.loads(line)
            assert data["resourceType"] == kind
            get_fhir_model_class(kind).model_validate(data)  # raises on an invalid resource
            if kind in FHIR_STATUS:
                assert data["status"] in FHIR_STATUS[kind]
            seen.setdefault(kind, []).append(data)
    labs = [o for o in seen["Observation"] if o["category"][0]["coding"][0]["code"] == "laboratory"]
    assert len(labs) == 24
    for obs in labs:
        assert obs["code"]["coding"][0]["system"] == "http://loinc.org"
        assert obs["valueQuantity"]["system"] == "http://unitsofmeasure.org" and obs["valueQuantity"]["code"]
    patient = seen["Patient"][0]
    assert patient["birthDate"] == "1961" and patient["gender"] == "female"
    condition = seen["Condition"][0]
    assert {c["system"] for c in condition["code"]["coding"]} >= {"http://www.orpha.net", "https://omim.org"}
    if dates == "relative":
        assert "effectiveDateTime" not in labs[0] and labs[0]["extension"][0]["valueInteger"] >= 0


@pytest.mark.parametrize("dates", ["shifted", "relative"])
def test_phenopackets_parse_with_the_phenopackets_package(tmp_path, cohort, registry_admin, dates):
    entries = run_export(tmp_path, registry_admin, "phenopackets", k=2, dates=dates)
    packets = {n: d for n, d in entries.items() if n.startswith("phenopackets/")}
    assert len(packets) == 8
    for data in packets.values():
        packet = json_format.Parse(data.decode(), Phenopacket())
        assert packet.subject.id == packet.id and packet.subject.sex == 1  # FEMALE
        assert [f.type.id for f in packet.phenotypic_features] == ["HP:0009125"]
        assert {m.assay.id for m in packet.measurements} == {"LOINC:2571-8", "LOINC:4548-4", "LOINC:21365-2"}
        assert packet.diseases[0].term.id == "MONDO:0007906"  # FPLD2
        variant = packet.interpretations[0].diagnosis.genomic_interpretations[0].variant_interpretation
        assert {e.value for e in variant.variation_descriptor.expressions} == {"NM_170707.4:c.1445G>A", "p.Arg482Gln"}
        assert variant.variation_descriptor.allelic_state.id == "GENO:0000135"
        assert packet.medical_actions[0].treatment.agent.id == "NCIT:C170171"
        assert len(packet.medical_actions[0].treatment.dose_intervals) == 2
        used = pp_writer.prefixes_used(json_format.MessageToDict(packet))
        listed = {r.namespace_prefix for r in packet.meta_data.resources}
        assert used == listed and {"HP", "LOINC", "MONDO", "UCUM", "GENO", "NCIT"} <= listed
        if dates == "relative":
            assert not packet.measurements[0].HasField("time_observed")
        else:
            assert packet.measurements[0].time_observed.HasField("timestamp")


def _pids(entries) -> set[str]:
    return {r["patient_id"] for r in _csv_tables(entries)["patients"]}


def test_pseudonyms_stable_within_a_project_and_different_across_projects(tmp_path, cohort, registry_admin):
    first = _pids(run_export(tmp_path, registry_admin, "csv", k=2, project="study-a"))
    again = _pids(run_export(tmp_path, registry_admin, "csv", k=2, project="study-a"))
    other = _pids(run_export(tmp_path, registry_admin, "csv", k=2, project="study-b"))
    assert first == again and len(first) == 8
    assert not first & other and len(other) == 8


def test_project_key_comes_from_the_environment_when_set(tmp_path, cohort, registry_admin, monkeypatch):
    monkeypatch.setenv("EXPORT_KEY_ENVSTUDY", "ab" * 32)
    from_env = _pids(run_export(tmp_path, registry_admin, "csv", k=2, project="envstudy"))
    assert not (tmp_path / "keys" / "envstudy.key").exists()
    monkeypatch.setenv("EXPORT_KEY_ENVSTUDY", "cd" * 32)
    assert not from_env & _pids(run_export(tmp_path, registry_admin, "csv", k=2, project="envstudy"))


def test_small_cells_are_generalised_or_suppressed_and_reported(tmp_path, cohort, registry_admin):
    entries = run_export(tmp_path, registry_admin, "csv")  # k = 5: site B's two patients are too few
    tables = _csv_tables(entries)
    report = json.loads(entries["manifest.json"])["deidentification"]["small_cells"]
    assert report["k"] == 5 and report["patients_kept_as_recorded"] == 6 and report["patients_suppressed"] == 2
    assert len(tables["patients"]) == 6 and {p["site_country"] for p in tables["patients"]} == {"FR"}
    assert len({r["patient_id"] for r in tables["labs"]}) == 6  # suppressed patients are in no table


def test_a_small_group_is_generalised_to_the_subtype_group(tmp_path, cohort, registry_admin, site_a, clinician_a):
    from .conftest import Canaries, _seed_patient

    # One FPLD3 and one FPLD4 woman of site A: each alone, together a group of two "FPLD".
    extra = Canaries()
    _seed_patient(site_a, clinician_a, 50, extra, subtype="FPLD3")
    _seed_patient(site_a, clinician_a, 51, extra, subtype="FPLD4")
    entries = run_export(tmp_path, registry_admin, "csv", k=2)
    patients = _csv_tables(entries)["patients"]
    assert sorted(p["subtype"] for p in patients).count("FPLD") == 2
    diagnoses = [d for d in _csv_tables(entries)["diagnoses"] if d["subtype"] == "FPLD"]
    assert diagnoses and all(d["omim"] == "" and d["mondo"] == "" for d in diagnoses)
    report = json.loads(entries["manifest.json"])["deidentification"]["small_cells"]
    assert report["patients_generalised"] == {"subtype_to_group": 2}


def test_formula_cells_are_neutralised_in_csv(tmp_path, cohort, registry_admin):
    patient = cohort.patients[0]
    for i, label in enumerate(['=HYPERLINK("http://x")', "+1+1", "-1+1", "@SUM(A1)", "\tTAB", "\rCR"]):
        PhenotypeObservation.objects.create(
            patient=patient, hpo_id="HP:0000855", label=label, observed_on=dt.date(2020, 1, i + 1)
        )
    entries = run_export(tmp_path, registry_admin, "csv", k=2)
    labels = [r["label"] for r in _csv_tables(entries)["phenotypes"]]
    for bad in ['=HYPERLINK("http://x")', "+1+1", "-1+1", "@SUM(A1)", "\tTAB", "\rCR"]:
        assert "'" + bad in labels
    for table in _csv_tables(entries).values():
        for row in table:
            for value in row.values():
                assert (value or "x")[0] not in "=+-@\t\r", value


def test_withdrawn_consent_removes_the_patient_from_the_next_export(tmp_path, cohort, registry_admin, clinician_a):
    before = _pids(run_export(tmp_path, registry_admin, "csv", k=2, project="p"))
    registry_services.consent_withdraw(patient=cohort.patients[0], withdrawn_on=dt.date.today(), by=clinician_a)
    after = _pids(run_export(tmp_path, registry_admin, "csv", k=2, project="p"))
    assert len(after) == len(before) - 1 and after < before
    blob = b"".join(run_export(tmp_path, registry_admin, "fhir", k=2, project="p").values())
    assert (before - after).pop().encode() not in blob


def test_a_clinician_exports_only_their_sites(tmp_path, cohort, clinician_a, clinician_b, registry_admin):
    everyone = _pids(run_export(tmp_path, registry_admin, "csv", k=2))
    mine = _pids(run_export(tmp_path, clinician_a, "csv", k=2))
    theirs = _pids(run_export(tmp_path, clinician_b, "csv", k=2))
    assert len(mine) == 6 and len(theirs) == 2 and mine | theirs == everyone and not mine & theirs
    with pytest.raises(ValidationError) as exc:
        run_export(tmp_path, clinician_a, "csv", k=2, sites=("SITEB",))
    assert "SITEB" in str(exc.value.message_dict["sites"])


def test_a_researcher_exports_consenting_patients_of_their_sites(tmp_path, cohort, researcher_a):
    assert len(_pids(run_export(tmp_path, researcher_a, "csv", k=2))) == 6
    outsider = make_user("nobody")
    with pytest.raises(ValidationError):
        run_export(tmp_path, outsider, "csv")


def test_filters_by_site_subtype_and_dates(tmp_path, cohort, registry_admin):
    only_b = _csv_tables(run_export(tmp_path, registry_admin, "csv", k=2, sites=("SITEB",)))
    assert len(only_b["patients"]) == 2
    none = _csv_tables(run_export(tmp_path, registry_admin, "csv", k=2, subtypes=("CGL1",)))
    assert none["patients"] == [] and none["labs"] == []
    window = _csv_tables(
        run_export(tmp_path, registry_admin, "csv", k=2, date_from=dt.date(2021, 5, 1), date_to=dt.date(2021, 12, 31))
    )
    assert window["labs"] == [] and window["visits"] == [] and len(window["treatments"]) == 8


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_query_of_an_export_touches_patient_identity(tmp_path, cohort, registry_admin, fmt):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        run_export(tmp_path, registry_admin, fmt, k=2)
    assert queries.captured_queries  # the cohort query at least goes through Django
    assert not [q for q in queries.captured_queries if "patientidentity" in q["sql"].lower()]
    from registry.exports import tables

    for table in tables.TABLES:  # the streamed statements (run on the raw connection)
        assert "patientidentity" not in tables.select_sql(table, "shifted", for_csv=True, filtered=True).lower()


def test_the_export_transaction_lets_one_statement_stream_a_whole_table(
    tmp_path, cohort, registry_admin, settings, monkeypatch
):
    from registry.exports import tabular

    settings.EXPORT_STATEMENT_TIMEOUT_MS = 20 * 60 * 1000
    seen = []
    write_csv = tabular.write_csv

    def write_csv_noting_the_timeout(sink, reader, cohort, progress):
        with reader.connection.cursor() as cur:
            cur.execute("SHOW statement_timeout")
            seen.append(cur.fetchone()[0])
        return write_csv(sink, reader, cohort, progress)

    monkeypatch.setattr(tabular, "write_csv", write_csv_noting_the_timeout)
    run_export(tmp_path, registry_admin, "csv", k=2)
    assert seen == ["20min"]  # set for the export's transaction only (set_config(..., true))
