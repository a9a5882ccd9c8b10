"""schemas.records: the cached date, date-of-birth and postcode readings give what the
uncached functions give, and the cached "today" changes at midnight."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

import schemas.records as records
from analyzers.postcodes import normalise_postcode
from schemas.records import PersonRecord, to_partial_date

SOURCE = {"agency": "SC", "source_system": "cm", "source_id": "p1"}


def _person(**fields: object) -> dict[str, object]:
    return {"source": SOURCE, "family_name": "Hall", **fields}


def test_today_is_date_today_and_cached_within_the_day(monkeypatch: pytest.MonkeyPatch) -> None:
    assert records._today() == dt.date.today()
    calls: list[float] = []
    midnight = dt.datetime(2031, 3, 4).timestamp()
    clock = [midnight - 5.0]

    def fake_time() -> float:
        calls.append(clock[0])
        return clock[0]

    monkeypatch.setattr(records.time, "time", fake_time)
    monkeypatch.setattr(records, "_today_span", (dt.date.min, 0.0, 0.0))
    assert records._today() == dt.date(2031, 3, 3)
    clock[0] = midnight - 0.001
    assert records._today() == dt.date(2031, 3, 3)  # still the same day, from the cache
    clock[0] = midnight
    assert records._today() == dt.date(2031, 3, 4)  # midnight: read again
    clock[0] = midnight - 3600.0  # the clock set back: read again, not the cached date
    assert records._today() == dt.date(2031, 3, 3)


def test_a_birth_date_tomorrow_is_in_the_future() -> None:
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    with pytest.raises(ValidationError, match="is in the future"):
        PersonRecord.model_validate(_person(date_of_birth=tomorrow))
    today = dt.date.today().isoformat()
    assert PersonRecord.model_validate(_person(date_of_birth=today)).date_of_birth


@pytest.mark.parametrize("text", ["2015-04-03", "03/04/2015", "04/2015", "2015", "unknown",
                                  "3 April 2015", " 2015-04-03 "])
def test_cached_partial_date_is_to_partial_date(text: str) -> None:
    for _ in range(2):  # the second answer comes from the cache
        assert records._partial_date_of_text(text) == to_partial_date(text)
        record = PersonRecord.model_validate(_person(date_of_birth=text))
        assert (record.date_of_birth, record.dob_precision) == to_partial_date(text)


@pytest.mark.parametrize("text", ["2015-02-30", "31/04/2015", "not a date", "9999-99-99"])
def test_a_bad_date_is_rejected_the_same_way_every_time(text: str) -> None:
    with pytest.raises(ValueError) as first:
        to_partial_date(text)
    for _ in range(2):
        with pytest.raises(ValidationError) as exc:
            PersonRecord.model_validate(_person(date_of_birth=text))
        assert f"date_of_birth: {first.value}" in str(exc.value)


@pytest.mark.parametrize("text", ["ls97ab", "LS9 7AB", "wf12 0gz", "not a postcode", "GIR 0AA",
                                  "SW1A1AA", "LS9 7OB"])
def test_cached_postcode_is_normalise_postcode(text: str) -> None:
    expected = normalise_postcode(text)
    for _ in range(2):
        assert records._normalised_postcode(text) == expected
        data = _person(addresses=[{"postcode": text}])
        if expected is None:
            with pytest.raises(ValidationError, match="not a UK postcode"):
                PersonRecord.model_validate(data)
        else:
            assert PersonRecord.model_validate(data).addresses[0].postcode == expected
