"""analyzers.names: placeholder given names, phonetic keys, variant groups, synonyms."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers import (
    MAX_GROUP_SIZE,
    are_variants,
    parse_given_name,
    phonetic_keys,
    synonym_lines,
    variant_groups,
    variants,
)
from analyzers.names import load_curated_groups, load_nickname_exclusions

# --- placeholders ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "mother"),
    [
        ("Baby of Smith", "smith"),
        ("BABY OF SMITH-JONES", "smith jones"),
        ("Baby Smith", "smith"),
        ("B/O Kowalska", "kowalska"),
        ("Unborn", None),
        ("Unborn baby", None),
        ("Unborn Baby of O'Neill", "oneill"),
        ("Baby", None),
        ("BOY", None),
        ("Baby Girl", None),
        ("Girl of Jones", "jones"),
        ("Name not known", None),
        ("NK", None),
    ],
)
def test_placeholders_detected(raw: str, mother: str | None) -> None:
    parsed = parse_given_name(raw)
    assert parsed.is_placeholder
    assert parsed.value == ""  # "baby" must never be compared as a name
    assert parsed.mother_surname == mother


@pytest.mark.parametrize(
    ("raw", "order", "mother"),
    [("Twin 1", 1, None), ("twin two of Smith", 2, "smith"), ("Triplet B", 2, None)],
)
def test_multiple_births_are_flagged(raw: str, order: int, mother: str | None) -> None:
    parsed = parse_given_name(raw)
    assert parsed.is_placeholder and parsed.multiple_birth
    assert parsed.birth_order == order
    assert parsed.mother_surname == mother


def test_sex_hint_from_placeholder() -> None:
    assert parse_given_name("Baby Boy").sex_hint == "male"
    assert parse_given_name("Girl").sex_hint == "female"
    assert parse_given_name("Baby").sex_hint is None


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("Boy George", "boy george"),  # a weak word followed by a name is a real name
        ("Jayden", "jayden"),
        ("Zoë-Mae", "zoe mae"),
        ("Babette", "babette"),
        ("Ioan", "ioan"),
    ],
)
def test_real_names_are_not_placeholders(raw: str, value: str) -> None:
    parsed = parse_given_name(raw)
    assert not parsed.is_placeholder
    assert parsed.value == value
    assert parsed.mother_surname is None


def test_empty_given_name_is_empty_not_placeholder() -> None:
    assert parse_given_name("  ") == parse_given_name("")
    assert not parse_given_name("").is_placeholder


@given(st.text())
def test_parse_given_name_never_raises(s: str) -> None:
    parsed = parse_given_name(s)
    assert (parsed.value == "") or not parsed.is_placeholder


# --- phonetic keys -----------------------------------------------------------------------------


def test_phonetic_keys_agree_for_sound_alike_spellings() -> None:
    a, b = phonetic_keys("Smith"), phonetic_keys("Smyth")
    assert set(a) == {"metaphone", "nysiis", "soundex", "match_rating"}
    assert a["soundex"] == b["soundex"] == "S530"
    assert a["metaphone"] == b["metaphone"]
    assert phonetic_keys("Wiśniewski") == phonetic_keys("wisniewski")
    assert phonetic_keys("Smith")["soundex"] != phonetic_keys("Jones")["soundex"]


def test_phonetic_keys_empty_for_no_latin_letters() -> None:
    assert phonetic_keys("محمد") == {}
    assert phonetic_keys("") == {}
    assert phonetic_keys("123") == {}


# --- variants ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Bob", "Robert"),
        ("Mohammed", "Muhammad"),
        ("Mohamed", "Mohammad"),
        ("Aleksander", "Alexander"),
        ("Oleksandr", "Alex"),  # curated class widened by the nickname group
        ("Kayleigh", "Kayley"),
        ("Zoë", "Zoey"),
        ("Sean", "Shaun"),
        ("Aisha", "Ayesha"),
        ("Yusuf", "Youssef"),
        ("Wiktoria", "Victoria"),
        ("Jakub", "Jacob"),
        ("Fatima", "Faduma"),
        ("Smith", "Smyth"),
        ("Kowalski", "Kowalska"),
        ("Siobhan", "Shivaun"),
    ],
)
def test_known_variants(a: str, b: str) -> None:
    assert are_variants(a, b)
    assert are_variants(b, a)
    assert b.lower().replace("ë", "e") in variants(a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Kayleigh", "Kayla"),  # different names that sound alike
        ("Alexander", "Sandra"),  # dropped by nickname_exclusions.txt
        ("Robert", "Rupert"),
        ("Luke", "Lucas"),
        ("Albert", "Alexander"),  # both have nickname Al: groups do not chain
        ("Mohammed", "Ahmed"),
        ("Smith", "Jones"),
        ("", ""),
    ],
)
def test_not_variants(a: str, b: str) -> None:
    assert not are_variants(a, b)
    assert not are_variants(b, a)


def test_variants_includes_input_and_handles_unknown_names() -> None:
    assert variants("Xanthe-Unlisted") == {"xanthe unlisted"}
    assert variants("") == set()
    assert "zoe" in variants("ZOË")


def test_curated_data_is_large_and_well_formed() -> None:
    groups = load_curated_groups()
    assert len(groups) >= 40
    names = [n for g in groups for n in g]
    assert len(names) == len(set(names))  # each name in one class only


def test_curated_loader_rejects_bad_data() -> None:
    with pytest.raises(ValueError, match="already in a group"):
        load_curated_groups("Sean, Shaun\nShawn, Shaun\n")
    with pytest.raises(ValueError, match="two or more"):
        load_curated_groups("Sean\n")
    with pytest.raises(ValueError, match="not one word"):
        load_curated_groups("Mary Ann, Maryann\n")
    assert load_curated_groups("# comment\n\nZoë, Zoey  # trailing\n") == [
        frozenset({"zoe", "zoey"})
    ]


def test_nickname_exclusions_parse() -> None:
    assert ("alexandria", "alexander") in load_nickname_exclusions()
    with pytest.raises(ValueError):
        load_nickname_exclusions("just-one-field\n")


def test_variant_groups_are_bounded_and_not_nested() -> None:
    groups = variant_groups()
    assert all(2 <= len(g) <= MAX_GROUP_SIZE for g in groups)
    assert len(set(groups)) == len(groups)
    by_first: dict[str, list[frozenset[str]]] = {}
    for g in groups:
        by_first.setdefault(min(g), []).append(g)
    for g in groups:
        assert not any(g < other for other in by_first.get(min(g), []))


def test_synonym_lines_format() -> None:
    lines = synonym_lines()
    assert len(lines) > 500  # nickname groups plus curated classes
    assert len(lines) == len(set(lines))
    for line in lines:
        terms = line.split(", ")
        assert 2 <= len(terms) <= MAX_GROUP_SIZE, line
        assert all(re.fullmatch(r"[a-z]+", t) for t in terms), line
        assert len(terms) == len(set(terms)), line
    assert any(set(line.split(", ")) >= {"bob", "robert"} for line in lines)
    assert any(set(line.split(", ")) >= {"mohammed", "muhammad"} for line in lines)


def test_synonyms_and_variants_agree() -> None:
    # Retrieval (synonyms) and re-scoring (variants) must see the same groups.
    for line in synonym_lines()[::25]:
        terms = line.split(", ")
        for t in terms:
            assert set(terms) <= variants(t)


@given(st.text(), st.text())
def test_are_variants_is_symmetric(a: str, b: str) -> None:
    assert are_variants(a, b) == are_variants(b, a)
