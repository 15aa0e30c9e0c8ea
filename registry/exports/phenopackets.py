"""GA4GH Phenopacket v2: one JSON document per patient, built with the ``phenopackets``
protobuf classes and serialised with ``google.protobuf.json_format`` (each document is
parsed back before it is written).

Per patient: subject (pseudonym, sex, age at export), HPO phenotypic features, LOINC
measurements with UCUM units, diseases (MONDO, else OMIM, else ORPHA), one interpretation
holding the genomic findings (HGVS expressions, zygosity, ACMG class), medical actions
for treatment courses, and meta_data listing exactly the resource prefixes used.

With relative dates there is no timestamp at all (Phenopacket time elements are either
absolute or ages since birth, and days since diagnosis are neither).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from clinical import catalogue
from registry.exports.cohort import Cohort, CohortPatient
from registry.exports.readers import Reader
from registry.exports.sinks import Sink
from registry.exports.tables import RELATIVE, TABLES_BY_NAME

SCHEMA_VERSION = "2.0"
LOCAL_PREFIX = "LDREG"
# Every prefix a phenopacket of this registry may use, with its resource description.
RESOURCES = {
    "HP": ("hp", "human phenotype ontology", "http://purl.obolibrary.org/obo/hp.owl", "http://purl.obolibrary.org/obo/HP_"),
    "LOINC": ("loinc", "Logical Observation Identifiers Names and Codes", "https://loinc.org", "https://loinc.org/"),
    "UCUM": ("ucum", "Unified Code for Units of Measure", "http://unitsofmeasure.org", "https://units-of-measurement.org/"),
    "MONDO": ("mondo", "Mondo Disease Ontology", "http://purl.obolibrary.org/obo/mondo.owl", "http://purl.obolibrary.org/obo/MONDO_"),
    "OMIM": ("omim", "Online Mendelian Inheritance in Man", "https://www.omim.org", "https://www.omim.org/entry/"),
    "ORPHA": ("orpha", "Orphanet Rare Disease Ontology", "http://www.orpha.net", "http://www.orpha.net/ORDO/Orphanet_"),
    "GENO": ("geno", "Genotype Ontology", "http://purl.obolibrary.org/obo/geno.owl", "http://purl.obolibrary.org/obo/GENO_"),
    "NCIT": ("ncit", "NCI Thesaurus", "http://purl.obolibrary.org/obo/ncit.owl", "http://purl.obolibrary.org/obo/NCIT_"),
    "CHEBI": ("chebi", "Chemical Entities of Biological Interest", "http://purl.obolibrary.org/obo/chebi.owl", "http://purl.obolibrary.org/obo/CHEBI_"),
    LOCAL_PREFIX: ("ldreg", "Lipodystrophy registry catalogue (subtypes, drugs, stop reasons)", "urn:ld-registry:catalogue", "urn:ld-registry:catalogue:"),
}  # fmt: skip
ZYGOSITY_GENO = {
    "heterozygous": ("GENO:0000135", "heterozygous"),
    "homozygous": ("GENO:0000136", "homozygous"),
    "hemizygous": ("GENO:0000134", "hemizygous"),
    "compound_heterozygous": ("GENO:0000402", "compound heterozygous"),
}
DOSE_UCUM = {"mg/day": "mg/d", "U/day": "[U]/d", "g/day": "g/d", "mg/week": "mg/wk", "ug/day": "ug/d"}


def _pb():
    import phenopackets as pb

    return pb


def _grouped(rows: Iterator[tuple]) -> Iterator[tuple[str, list[tuple]]]:
    current, bucket = None, []
    for row in rows:
        if row[0] != current and bucket:
            yield current, bucket
            bucket = []
        current = row[0]
        bucket.append(row)
    if bucket:
        yield current, bucket


class _Stream:
    """Rows of one table for one patient at a time (both sorted by pseudonym)."""

    def __init__(self, rows: Iterator[tuple]):
        self._groups = _grouped(rows)
        self._next = next(self._groups, None)

    def take(self, pid: str) -> list[tuple]:
        while self._next is not None and self._next[0] < pid:
            self._next = next(self._groups, None)
        if self._next is not None and self._next[0] == pid:
            rows = self._next[1]
            self._next = next(self._groups, None)
            return rows
        return []


def _timestamp(day):
    from google.protobuf.timestamp_pb2 import Timestamp

    ts = Timestamp()
    ts.FromDatetime(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))
    return ts


def _disease_term(subtype: str, orpha, omim, mondo):
    pb = _pb()
    info = catalogue.SUBTYPES.get(subtype)
    label = info.name if info else catalogue.SUBTYPE_GROUPS.get(subtype, subtype)
    if mondo:
        return pb.OntologyClass(id=mondo, label=label)
    if omim:
        return pb.OntologyClass(id=f"OMIM:{omim}", label=label)
    if orpha:
        return pb.OntologyClass(id=f"ORPHA:{orpha}", label=label)
    return pb.OntologyClass(id=f"{LOCAL_PREFIX}:{subtype}", label=label)


def _drug_term(code: str):
    pb = _pb()
    info = catalogue.DRUGS.get(code)
    label = info.name if info else code
    codes = info.codes if info else {}
    for prefix in ("NCIT", "CHEBI"):
        if prefix in codes:
            return pb.OntologyClass(id=f"{prefix}:{codes[prefix]}", label=label)
    return pb.OntologyClass(id=f"{LOCAL_PREFIX}:{code}", label=label)


def prefixes_used(node) -> set[str]:
    """The CURIE prefixes of every ontology-class id in a phenopacket's JSON form."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "id" and isinstance(value, str) and ":" in value:
                found.add(value.split(":", 1)[0])
            else:
                found |= prefixes_used(value)
    elif isinstance(node, list):
        for item in node:
            found |= prefixes_used(item)
    return found


class _Builder:
    def __init__(self, dates: str, now: dt.datetime, project: str):
        self.relative = dates == RELATIVE
        self.now = now
        self.project = project

    def subject(self, p: CohortPatient):
        pb = _pb()
        sex = {"female": pb.Sex.FEMALE, "male": pb.Sex.MALE, "other": pb.Sex.OTHER_SEX}.get(p.sex, pb.Sex.UNKNOWN_SEX)
        status = {"alive": pb.VitalStatus.ALIVE, "deceased": pb.VitalStatus.DECEASED}.get(
            p.vital_status, pb.VitalStatus.UNKNOWN_STATUS
        )
        ind = pb.Individual(id=p.pid, sex=sex, vital_status=pb.VitalStatus(status=status))
        if p.age is not None and p.age.isdigit():
            ind.time_at_last_encounter.CopyFrom(pb.TimeElement(age=pb.Age(iso8601duration=f"P{p.age}Y")))
        elif p.age is not None:  # 90+: an open-ended range, never the exact age
            ind.time_at_last_encounter.CopyFrom(
                pb.TimeElement(age_range=pb.AgeRange(start=pb.Age(iso8601duration="P90Y")))
            )
        return ind

    def when(self, day):
        if self.relative or day is None:
            return None
        return _pb().TimeElement(timestamp=_timestamp(day))

    def packet(self, p: CohortPatient, parts: dict[str, list[tuple]]):
        pb = _pb()
        packet = pb.Phenopacket(id=p.pid, subject=self.subject(p))
        for _pid, hpo_id, label, excluded, _observed in parts["phenotypes"]:
            packet.phenotypic_features.append(
                pb.PhenotypicFeature(type=pb.OntologyClass(id=hpo_id, label=label), excluded=bool(excluded))
            )
        for _pid, _vn, analyte, loinc, value, unit, ucum, _cv, _cu, collected, _f, low, high in parts["labs"]:
            info = catalogue.ANALYTES.get(analyte)
            unit_term = pb.OntologyClass(id=f"UCUM:{ucum or unit}", label=unit)
            quantity = pb.Quantity(unit=unit_term, value=float(value))
            if low is not None and high is not None:
                quantity.reference_range.CopyFrom(pb.ReferenceRange(unit=unit_term, low=float(low), high=float(high)))
            m = pb.Measurement(
                assay=pb.OntologyClass(
                    id=f"LOINC:{loinc}" if loinc else f"{LOCAL_PREFIX}:{analyte}", label=info.name if info else analyte
                ),
                value=pb.Value(quantity=quantity),
            )
            t = self.when(collected)
            if t is not None:
                m.time_observed.CopyFrom(t)
            packet.measurements.append(m)
        primary = None
        for _pid, subtype, _grp, _basis, orpha, omim, mondo, _icd, onset, _dx in parts["diagnoses"]:
            term = _disease_term(subtype, orpha, omim, mondo)
            primary = primary or term
            disease = pb.Disease(term=term)
            t = self.when(onset)
            if t is not None:
                disease.onset.CopyFrom(t)
            packet.diseases.append(disease)
        if parts["genetics"]:
            packet.interpretations.append(self.interpretation(p, primary, parts["genetics"]))
        for action in self.actions(parts["treatments"], parts["doses"]):
            packet.medical_actions.append(action)
        self.meta(packet)
        return packet

    def interpretation(self, p: CohortPatient, disease, findings: list[tuple]):
        pb = _pb()
        acmg = {
            "pathogenic": pb.AcmgPathogenicityClassification.PATHOGENIC,
            "likely_pathogenic": pb.AcmgPathogenicityClassification.LIKELY_PATHOGENIC,
            "vus": pb.AcmgPathogenicityClassification.UNCERTAIN_SIGNIFICANCE,
            "likely_benign": pb.AcmgPathogenicityClassification.LIKELY_BENIGN,
            "benign": pb.AcmgPathogenicityClassification.BENIGN,
        }
        genomic = []
        for i, (_pid, gene, transcript, hgvs_c, hgvs_p, zygosity, acmg_class, _reported) in enumerate(findings, 1):
            c_expr = f"{transcript}:{hgvs_c}" if transcript else hgvs_c
            descriptor = pb.VariationDescriptor(
                id=f"{p.pid}-var{i}",
                label=f"{gene} {hgvs_c}",
                gene_context=pb.GeneDescriptor(symbol=gene),
                expressions=[pb.Expression(syntax="hgvs.c", value=c_expr)],
                molecule_context=pb.MoleculeContext.genomic,
            )
            if hgvs_p:
                descriptor.expressions.append(pb.Expression(syntax="hgvs.p", value=hgvs_p))
            if zygosity in ZYGOSITY_GENO:
                geno_id, label = ZYGOSITY_GENO[zygosity]
                descriptor.allelic_state.CopyFrom(pb.OntologyClass(id=geno_id, label=label))
            genomic.append(
                pb.GenomicInterpretation(
                    subject_or_biosample_id=p.pid,
                    interpretation_status=(
                        pb.GenomicInterpretation.InterpretationStatus.CAUSATIVE
                        if acmg_class in ("pathogenic", "likely_pathogenic")
                        else pb.GenomicInterpretation.InterpretationStatus.CANDIDATE
                    ),
                    variant_interpretation=pb.VariantInterpretation(
                        acmg_pathogenicity_classification=acmg.get(
                            acmg_class, pb.AcmgPathogenicityClassification.NOT_PROVIDED
                        ),
                        variation_descriptor=descriptor,
                    ),
                )
            )
        diagnosis = pb.Diagnosis(genomic_interpretations=genomic)
        if disease is not None:
            diagnosis.disease.CopyFrom(disease)
        return pb.Interpretation(
            id=f"{p.pid}-interpretation",
            progress_status=pb.Interpretation.ProgressStatus.COMPLETED,
            diagnosis=diagnosis,
        )

    def actions(self, courses: list[tuple], doses: list[tuple]):
        pb = _pb()
        by_course: dict[int, list[tuple]] = {}
        for _pid, n, _drug, effective, dose, unit in doses:
            by_course.setdefault(n, []).append((effective, dose, unit))
        for _pid, n, drug, _cls, _start, end, stop_reason, _tapered in courses:
            treatment = pb.Treatment(agent=_drug_term(drug))
            steps = by_course.get(n, [])
            for i, (effective, dose, unit) in enumerate(steps):
                interval = pb.DoseInterval(
                    quantity=pb.Quantity(
                        unit=pb.OntologyClass(id=f"UCUM:{DOSE_UCUM.get(unit, unit)}", label=unit), value=float(dose)
                    )
                )
                if not self.relative and effective is not None:
                    stop = steps[i + 1][0] if i + 1 < len(steps) else end
                    interval.interval.start.CopyFrom(_timestamp(effective))
                    if stop is not None:
                        interval.interval.end.CopyFrom(_timestamp(stop))
                treatment.dose_intervals.append(interval)
            action = pb.MedicalAction(treatment=treatment)
            if stop_reason:
                action.treatment_termination_reason.CopyFrom(
                    pb.OntologyClass(
                        id=f"{LOCAL_PREFIX}:stop_reason_{stop_reason}", label=stop_reason.replace("_", " ")
                    )
                )
            yield action

    def meta(self, packet) -> None:
        from google.protobuf import json_format

        pb = _pb()
        used = prefixes_used(json_format.MessageToDict(packet))
        meta = pb.MetaData(
            created=_timestamp(self.now.date()),
            created_by=f"ld-registry research export ({self.project})",
            phenopacket_schema_version=SCHEMA_VERSION,
        )
        for prefix in sorted(used & set(RESOURCES)):
            rid, name, url, iri = RESOURCES[prefix]
            meta.resources.append(
                pb.Resource(id=rid, name=name, url=url, version="unspecified", namespace_prefix=prefix, iri_prefix=iri)
            )
        packet.meta_data.CopyFrom(meta)


def write_phenopackets(
    sink: Sink, reader: Reader, cohort: Cohort, progress, *, now: dt.datetime, project: str
) -> dict[str, int]:
    from google.protobuf import json_format

    pb = _pb()
    streams = {
        name: _Stream(reader.rows(TABLES_BY_NAME[table]))
        for name, table in (
            ("phenotypes", "phenotypes"),
            ("labs", "labs"),
            ("diagnoses", "diagnoses"),
            ("genetics", "genetics"),
            ("treatments", "treatments"),
            ("doses", "dose_changes"),
        )
    }
    builder = _Builder(reader.dates, now, project)
    written = 0
    for p in cohort.patients:
        parts = {name: stream.take(p.pid) for name, stream in streams.items()}
        packet = builder.packet(p, parts)
        text = json_format.MessageToJson(packet)
        json_format.Parse(text, pb.Phenopacket())  # the package must read back what we wrote
        sink.write_bytes(f"phenopackets/{p.pid}.json", text.encode())
        written += 1
        progress.add(1 + sum(len(rows) for rows in parts.values()))
    return {"phenopackets": written}
