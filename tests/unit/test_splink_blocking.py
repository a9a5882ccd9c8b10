"""Splink's reference configurations: the FEBRL one (one field a rule) and the two-field
blocking that a 1M-people store can afford (bench/bench_relink.py --splink-blocking)."""

from __future__ import annotations

import pytest

pytest.importorskip("splink")
pytest.importorskip("recordlinkage")

from linkage.evaluation import (  # noqa: E402
    SPLINK_BLOCKINGS,
    _splink_rules,
    run_splink,
)

IDENTIFIERS = ("nhs_number", "upn")


def _sql(rule: object) -> str:
    return str(rule.get_blocking_rule("duckdb").blocking_rule_sql)  # type: ignore[attr-defined]


def test_every_two_field_rule_joins_two_fields_unless_it_is_an_identifier() -> None:
    rules, training = _splink_rules("two_field", IDENTIFIERS)
    for rule in [*rules, *training]:
        sql = _sql(rule)
        if any(f'l."{column}"' in sql for column in IDENTIFIERS):
            assert " AND " not in sql
        else:
            # A one-field rule on a surname alone is what made 7.1 billion pairs at 1M.
            assert sql.count(" AND ") == 1, sql
    assert sum(any(f'l."{c}"' in _sql(r) for c in IDENTIFIERS) for r in rules) == 2


def test_the_single_field_rules_are_the_febrl_configuration() -> None:
    rules, _ = _splink_rules("single", ())
    assert [_sql(r) for r in rules] == [
        'l."given_name" = r."given_name"', 'l."surname" = r."surname"',
        'l."date_of_birth" = r."date_of_birth"',
        '(l."postcode" = r."postcode") AND (l."street_number" = r."street_number")']


def test_an_unknown_blocking_is_refused_by_name() -> None:
    assert SPLINK_BLOCKINGS == ("single", "two_field")
    with pytest.raises(ValueError, match="blocking: 'three_field' is not one of single"):
        _splink_rules("three_field", ())


def test_two_field_splink_links_febrl3() -> None:
    result = run_splink("febrl3", blocking="two_field")
    # Measured 0.998 (the one-field rules: 0.9996); the date rules must run on YYYYMMDD text.
    assert result.metrics.f1 > 0.99
    assert result.details["predicted_pairs"] > 5_000
