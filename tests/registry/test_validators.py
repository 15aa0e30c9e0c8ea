"""HGVS, gene symbol and HPO syntax validators (pure)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from registry import validators as v


@pytest.mark.parametrize(
    "text",
    [
        "c.1444C>T",
        "NM_170707.4:c.1444C>T",
        "c.589-2A>G",
        "c.100+1G>A",
        "c.-12A>G",
        "c.*45del",
        "c.1444_1445del",
        "c.1444delC",
        "c.974dup",
        "c.1085dupT",
        "c.696_697insC",
        "c.100_102delinsTT",
        "c.100_200inv",
    ],
)
def test_valid_hgvs_c(text):
    assert v.hgvs_c_is_valid(text)
    v.validate_hgvs_c(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1444C>T",
        "c.1444C>",
        "c.C1444T",
        "c.1444C>TT",
        "g.1444C>T",
        "c.1444X>T",
        "c.1444_ins",
        "p.Arg482Trp",
        "c.14 44C>T",
    ],
)
def test_invalid_hgvs_c(text):
    assert not v.hgvs_c_is_valid(text)
    with pytest.raises(ValidationError) as exc:
        v.validate_hgvs_c(text)
    assert "not valid HGVS c. notation" in exc.value.messages[0]


@pytest.mark.parametrize(
    "text",
    [
        "p.(Arg482Trp)",
        "p.Arg482Trp",
        "p.R482W",
        "p.Gln12Ter",
        "p.Gln12*",
        "p.Arg133fs",
        "p.(Leu362Phefs*19)",
        "p.(Gly608=)",
        "p.?",
        "p.0",
        "p.(Ser605del)",
        "p.Lys2_Gly3insAla",
        "NP_005563.1:p.Arg482Trp",
    ],
)
def test_valid_hgvs_p(text):
    assert v.hgvs_p_is_valid(text)
    v.validate_hgvs_p(text)


@pytest.mark.parametrize("text", ["p.Arg482", "p.(Arg482Trp", "Arg482Trp", "p.Xyz482Trp", "c.1444C>T", "p.482Trp"])
def test_invalid_hgvs_p(text):
    assert not v.hgvs_p_is_valid(text)
    with pytest.raises(ValidationError):
        v.validate_hgvs_p(text)


def test_empty_protein_change_is_allowed():
    v.validate_hgvs_p("")  # the p. change is optional


@pytest.mark.parametrize(
    ("symbol", "ok"),
    [("LMNA", True), ("AGPAT2", True), ("CAVIN1", True), ("lmna", False), ("2LMNA", False), ("", False)],
)
def test_gene_symbols(symbol, ok):
    if ok:
        v.validate_gene_symbol(symbol)
    else:
        with pytest.raises(ValidationError):
            v.validate_gene_symbol(symbol)


@pytest.mark.parametrize(
    ("hpo", "ok"), [("HP:0009125", True), ("HP:009125", False), ("hp:0009125", False), ("HP0009125", False)]
)
def test_hpo_ids(hpo, ok):
    if ok:
        v.validate_hpo_id(hpo)
    else:
        with pytest.raises(ValidationError):
            v.validate_hpo_id(hpo)
