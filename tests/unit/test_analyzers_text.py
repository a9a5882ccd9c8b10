"""analyzers.text: folding and name tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers import compact_name, fold, name_tokens, normalise_name


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Wiśniewski", "wisniewski"),
        ("Ștefănescu", "stefanescu"),  # Romanian s/t with comma below
        ("Şerban Ţurcanu", "serban turcanu"),  # the cedilla forms used by older systems
        ("ŁUKASZ Żółć", "lukasz zolc"),
        ("Straße", "strasse"),
        ("Æsa Ørsted", "aesa orsted"),
        ("Zoë", "zoe"),
        ("Nguyễn", "nguyen"),
        ("İlkay", "ilkay"),
        ("O'Brien", "obrien"),
        ("O’Brien", "obrien"),  # typographic apostrophe
        ("Smith-Jones", "smith-jones"),
        ("Smith – Jones", "smith-jones"),  # spaced en dash
        ("  MARY   ann\t", "mary ann"),
        ("Smith, John (Jnr.)", "smith john jnr"),
        ("-Jones-", "jones"),
        ("Twin 1", "twin 1"),
        ("ﬁona", "fiona"),  # ligature: NFKC
    ],
)
def test_fold_examples(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_fold_keeps_marks_on_non_latin_scripts() -> None:
    # Stripping the breve would turn Cyrillic й into и: a different letter.
    assert fold("Йосип") == "йосип"
    assert fold("محمد") == "محمد"


@pytest.mark.parametrize(
    ("raw", "tokens"),
    [
        ("Smith-Jones", ["smithjones", "smith", "jones"]),
        ("O'Brien", ["obrien"]),
        ("Anna-Maria Smith", ["annamaria", "anna", "maria", "smith"]),
        ("Smith-Smith", ["smithsmith", "smith"]),
        ("Wiśniewska-Kowalska", ["wisniewskakowalska", "wisniewska", "kowalska"]),
        ("  ", []),
    ],
)
def test_name_tokens_examples(raw: str, tokens: list[str]) -> None:
    assert name_tokens(raw) == tokens


def test_hyphen_and_space_forms_share_normalised_and_compact_forms() -> None:
    assert normalise_name("Smith-Jones") == normalise_name("smith  jones") == "smith jones"
    assert compact_name("Smith-Jones") == compact_name("SmithJones") == "smithjones"
    assert normalise_name("D'Souza") == "dsouza"


@given(st.text())
def test_fold_is_idempotent_and_clean(s: str) -> None:
    f = fold(s)
    assert fold(f) == f
    assert f == f.strip()
    assert "  " not in f
    assert "'" not in f
    assert not any(w.startswith("-") or w.endswith("-") for w in f.split())


@given(st.text())
def test_name_tokens_are_unique_single_words(s: str) -> None:
    tokens = name_tokens(s)
    assert len(tokens) == len(set(tokens))
    for tok in tokens:
        assert tok
        assert not any(ch.isspace() for ch in tok)
        assert "-" not in tok
    # Every word of the comparison form is among the tokens.
    assert set(normalise_name(s).split()) <= set(tokens)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_folds_exactly_like_the_unicode_path(s: str) -> None:
    from analyzers.text import _fold, _fold_unicode, _words

    assert _fold(s) == _words(_fold_unicode(s))


def test_ascii_fast_path_examples() -> None:
    assert fold("14 O'Neill-Road,  LS9 7AB") == "14 oneill-road ls9 7ab"
    assert fold("--Flat 2, St. Mary`s--") == "flat 2 st marys"
