"""Syntax validators for coded genetic and phenotype fields (pure, no database).

HGVS checks cover the variant forms a lipodystrophy clinic reports (substitutions,
deletions, duplications, insertions, delins, intronic and UTR offsets; protein
missense, nonsense, frameshift, in-frame indels, synonymous). They check syntax, not
biology: whether the reference base is right needs the transcript sequence.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

_NUC = "[ACGTacgt]"
# A c. position: 123, -12, *45, 123+1, 123-2, *45+3, -12-1
_CPOS = r"(?:[-*]?\d+(?:[+-]\d+)?)"
_CRANGE = rf"{_CPOS}(?:_{_CPOS})?"
_HGVS_C = re.compile(
    r"^(?:(?:NM|NR|XM|ENST)_?\d+(?:\.\d+)?:)?c\."
    rf"(?:{_CPOS}{_NUC}>{_NUC}"  # substitution
    rf"|{_CRANGE}del(?:{_NUC}+)?"  # deletion
    rf"|{_CRANGE}dup(?:{_NUC}+)?"  # duplication
    rf"|{_CPOS}_{_CPOS}ins{_NUC}+"  # insertion
    rf"|{_CRANGE}delins{_NUC}+"  # deletion-insertion
    rf"|{_CRANGE}inv"  # inversion
    r")$"
)

_AA3 = "Ala|Arg|Asn|Asp|Cys|Gln|Glu|Gly|His|Ile|Leu|Lys|Met|Phe|Pro|Ser|Thr|Trp|Tyr|Val|Sec|Pyl|Ter"
_AA = rf"(?:{_AA3}|[ACDEFGHIKLMNPQRSTVWY])"
_AA_OR_STOP = rf"(?:{_AA}|\*)"
_PPOS = rf"{_AA}\d+"
_P_BODY = (
    rf"(?:{_PPOS}{_AA_OR_STOP}"  # missense / nonsense
    rf"|{_PPOS}="  # synonymous at a position
    rf"|{_PPOS}(?:{_AA})?fs(?:(?:Ter|\*)(?:\d+|\?))?"  # frameshift
    rf"|{_PPOS}(?:_{_PPOS})?del"
    rf"|{_PPOS}(?:_{_PPOS})?dup"
    rf"|{_PPOS}_{_PPOS}ins{_AA}+"
    rf"|{_PPOS}(?:_{_PPOS})?delins{_AA}+"
    rf"|{_PPOS}ext(?:{_AA}|\*)?-?\d*"
    r"|=|\?|0|Met1\?)"
)
_HGVS_P = re.compile(rf"^(?:(?:NP|XP|ENSP)_?\d+(?:\.\d+)?:)?p\.(?:{_P_BODY}|\({_P_BODY}\))$")
_GENE = re.compile(r"^[A-Z][A-Z0-9-]{0,19}$")
_HPO = re.compile(r"^HP:\d{7}$")


def hgvs_c_is_valid(text: str) -> bool:
    return bool(_HGVS_C.match((text or "").strip()))


def hgvs_p_is_valid(text: str) -> bool:
    return bool(_HGVS_P.match((text or "").strip()))


def validate_hgvs_c(value: str) -> None:
    if not hgvs_c_is_valid(value):
        raise ValidationError(
            "%(value)s is not valid HGVS c. notation (examples: c.1444C>T, c.1444_1445del, "
            "c.100+1G>A, NM_170707.4:c.1444C>T).",
            code="hgvs_c",
            params={"value": value},
        )


def validate_hgvs_p(value: str) -> None:
    if value and not hgvs_p_is_valid(value):
        raise ValidationError(
            "%(value)s is not valid HGVS p. notation (examples: p.(Arg482Trp), p.Arg482Trp, "
            "p.R482W, p.Gln12Ter, p.Arg133fs).",
            code="hgvs_p",
            params={"value": value},
        )


def validate_gene_symbol(value: str) -> None:
    if not _GENE.match(value or ""):
        raise ValidationError(
            "%(value)s is not an HGNC gene symbol (capital letters and digits, e.g. LMNA, AGPAT2).",
            code="gene",
            params={"value": value},
        )


def validate_hpo_id(value: str) -> None:
    if not _HPO.match(value or ""):
        raise ValidationError(
            "%(value)s is not an HPO id (HP: and seven digits, e.g. HP:0009125).", code="hpo", params={"value": value}
        )
