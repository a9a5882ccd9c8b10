"""analyzers.pair_keys: the keys a document is indexed with and the ones a record looks for."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from analyzers.dates import PartialDate
from analyzers.pair_keys import MAX_TOKENS, document_pair_keys, query_pair_keys, token_keys


def _shared(query: list[list[str]], document: list[str]) -> list[str]:
    """The kinds of pair a query would find the document by."""
    held = set(document)
    return sorted({group[0][:2] for group in query if held.intersection(group)})


def test_a_token_is_read_as_folded_as_metaphone_and_by_its_variant_groups() -> None:
    keys = token_keys("kayleigh")
    assert "tkayleigh" in keys and "mKL" in keys
    assert any(k.startswith("v") for k in keys)
    # Spelt another way, the same name shares its group and metaphone but not its spelling.
    other = token_keys("kayley")
    assert set(keys) & set(other) >= {"mKL"} and "tkayleigh" not in other
    assert {k for k in keys if k[0] == "v"} & {k for k in other if k[0] == "v"}
    # A name in no group has only its spelling and its metaphone.
    assert {k[0] for k in token_keys("zzyzx")} == {"t", "m"}


def test_a_record_finds_another_spelling_of_the_same_child_by_several_pairs() -> None:
    document = document_pair_keys(["Kayleigh"], ["Smith"], PartialDate(2015, 4, 3, "day"),
                                  ["LS9 7"])
    # The police wrote "Kayley Smyth" with day and month the other way round.
    query = query_pair_keys(["kayley"], ["smyth"], PartialDate(2015, 3, 4, "day"), "LS9 7")
    # (The birth months differ, so no month pair.)
    assert _shared(query, document) == ["ds", "gf", "ns"]
    # The same date, and no postcode.
    query = query_pair_keys(["kayley"], ["smyth"], PartialDate(2015, 4, 3, "day"), None)
    assert _shared(query, document) == ["dn", "fm", "gf", "gm"]


def test_a_record_agreeing_on_one_field_only_shares_no_pair() -> None:
    document = document_pair_keys(["Kayleigh"], ["Smith"], PartialDate(2015, 4, 3, "day"),
                                  ["LS9 7"])
    for query in (
        query_pair_keys(["kayleigh"], ["patel"], PartialDate(2001, 1, 1, "day"), "M1 1"),
        query_pair_keys(["zainab"], ["smith"], PartialDate(2001, 1, 1, "day"), "M1 1"),
        query_pair_keys(["zainab"], ["patel"], PartialDate(2015, 4, 3, "day"), "M1 1"),
        query_pair_keys(["zainab"], ["patel"], PartialDate(2001, 1, 1, "day"), "LS9 7"),
    ):
        assert _shared(query, document) == []


def test_every_name_held_is_paired_but_the_query_uses_the_current_one() -> None:
    # Born "Kayleigh Jones", now "Kayleigh Smith": the document holds both surnames.
    document = document_pair_keys(["Kayleigh"], ["Smith", "Jones"], None, [])
    assert "gf:tkayleigh|tjones" in document and "gf:tkayleigh|tsmith" in document
    assert _shared(query_pair_keys(["kayleigh"], ["jones"], None, None), document) == ["gf"]
    # A hyphenated surname is paired whole and by each part.
    hyphen = document_pair_keys(["Amy"], ["Smith-Jones"], None, [])
    assert {"gf:tamy|tsmithjones", "gf:tamy|tsmith", "gf:tamy|tjones"} <= set(hyphen)


def test_a_month_or_year_only_date_pairs_only_what_it_holds() -> None:
    month = document_pair_keys(["Amy"], ["Smith"], PartialDate(2015, 4, None, "month"), [])
    assert {k[:2] for k in month} == {"gf", "fm", "gm"}
    year = document_pair_keys(["Amy"], ["Smith"], PartialDate(2015, None, None, "year"), [])
    assert {k[:2] for k in year} == {"gf"}
    # A day after the 12th has no exchanged reading.
    late = document_pair_keys(["Amy"], ["Smith"], PartialDate(2015, 4, 13, "day"), [])
    assert not any(k.startswith("ds:") for k in late)


def test_nothing_to_pair_gives_no_keys() -> None:
    assert query_pair_keys(["kayleigh"], [], None, None) == []
    assert document_pair_keys([], ["Smith"], None, []) == []


def test_a_long_history_of_names_makes_a_bounded_number_of_keys() -> None:
    givens = [f"Name{chr(97 + i)}" for i in range(26)]
    families = [f"Family{chr(97 + i)}" for i in range(26)]
    keys = document_pair_keys(givens, families, PartialDate(2015, 4, 3, "day"), ["LS9 7"])
    bound = max(len(token_keys(t)) for t in ("namea", "familya")) * MAX_TOKENS
    assert len([k for k in keys if k.startswith("gf:")]) <= bound * bound
    assert len(keys) <= bound * bound + 6 * bound


@given(st.lists(st.text(max_size=40), max_size=4), st.lists(st.text(max_size=40), max_size=4),
       st.lists(st.text(max_size=8), max_size=3))
def test_never_raises_on_any_unicode(givens: list[str], families: list[str],
                                     sectors: list[str]) -> None:
    keys = document_pair_keys(givens, families, PartialDate(2015, 4, 3, "day"), sectors)
    assert all(isinstance(k, str) and k[2] == ":" for k in keys)
    query_pair_keys(givens, families, PartialDate(2015, 4, 3, "day"), None)
