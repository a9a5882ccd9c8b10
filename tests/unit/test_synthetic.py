"""Synthetic extract generator (schemas.synthetic, `casesearch generate`). No services."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import hashlib
import json
import os
import subprocess
import sys
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from stdnum.gb import nhs as stdnum_nhs
from stdnum.gb import upn as stdnum_upn

from analyzers.dates import parse_date
from analyzers.identifiers import validate_identifier
from analyzers.postcodes import normalise_postcode
from schemas.records import Agency, AnyRecord, PersonRecord
from schemas.synthetic import (
    EDUCATION_CSV_COLUMNS,
    FILES,
    NHS_NUMBER_SYSTEM,
    PLANTED_REJECT_COLUMNS,
    TRUTH_COLUMNS,
    VARIANT_KINDS,
    generate_extracts,
    invalid_nhs_number,
    nhs_number_for,
    upn_for,
)

ADAPTER: TypeAdapter[object] = TypeAdapter(AnyRecord)
EXPECTED_HEADER = (
    "source_system,source_id,version,given_names,family_name,former_family_name,"
    "alias_given_names,alias_family_name,date_of_birth,dob_estimated,gender,ethnicity_code,"
    "nhs_number,upn,former_upn,address_line1,address_line2,address_town,postcode,uprn,"
    "sensitivity"
)
OUTPUT_FILES = (*FILES.values(), "agencies.json", "truth.csv", "planted_rejects.csv",
                "manifest.json")


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic2000")
    generate_extracts(2000, 42, out)
    return out


def _truth(out: Path) -> list[dict[str, str]]:
    with open(out / "truth.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _planted(out: Path) -> set[tuple[str, int]]:
    with open(out / "planted_rejects.csv", encoding="utf-8", newline="") as fh:
        return {(r["file"], int(r["line"])) for r in csv.DictReader(fh)}


def _notes_by_id(out: Path) -> dict[tuple[str, str], set[str]]:
    return {(r["agency"], r["source_id"]): set(filter(None, r["notes"].split(";")))
            for r in _truth(out)}


def _digest(out: Path) -> dict[str, str]:
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in OUTPUT_FILES}


# --- identifiers -------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**7 - 1), st.integers(min_value=0, max_value=10**8))
def test_nhs_numbers_are_valid_and_wrong_check_digit_is_invalid(index: int, offset: int) -> None:
    number = nhs_number_for(index, offset)
    assert stdnum_nhs.is_valid(number)
    assert validate_identifier("nhs_number", number).valid
    bad = invalid_nhs_number(number)
    assert bad[:9] == number[:9] and not stdnum_nhs.is_valid(bad)


def test_nhs_numbers_are_unique_per_index() -> None:
    numbers = [nhs_number_for(i, 12345) for i in range(20_000)]
    assert len(set(numbers)) == len(numbers)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10**6 - 1), st.sampled_from([380, 381, 383]),
       st.integers(min_value=2006, max_value=2025), st.booleans())
def test_upns_are_valid(index: int, la: int, year: int, temporary: bool) -> None:
    value = upn_for(index, la, year, temporary)
    assert stdnum_upn.is_valid(value)
    assert validate_identifier("upn", value).valid


# --- determinism -------------------------------------------------------------------------------
def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    generate_extracts(400, 7, tmp_path / "a")
    generate_extracts(400, 7, tmp_path / "b")
    generate_extracts(400, 8, tmp_path / "c")
    a, b, c = (_digest(tmp_path / x) for x in "abc")
    assert a == b
    for name in FILES.values():
        assert a[name] != c[name], name


def test_output_does_not_depend_on_hash_randomisation(tmp_path: Path) -> None:
    script = ("import sys; from pathlib import Path; from schemas.synthetic import "
              "generate_extracts; generate_extracts(300, 11, Path(sys.argv[1]))")
    root = Path(__file__).resolve().parents[2]
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / hash_seed)], check=True,
                       cwd=root, env=env)
    assert _digest(tmp_path / "1") == _digest(tmp_path / "2")


# --- formats -----------------------------------------------------------------------------------
def test_agencies_file(extract: Path) -> None:
    raw = json.loads((extract / "agencies.json").read_text())
    agencies = [Agency.model_validate(a) for a in raw]
    assert [(a.code, a.kind.value) for a in agencies] == [
        ("SC", "social_care"), ("POL", "police"), ("HEA", "health"), ("EDU", "education")]


@pytest.mark.parametrize("agency", ["SC", "POL"])
def test_jsonl_lines_parse_except_planted_rejects(extract: Path, agency: str) -> None:
    name = FILES[agency]
    planted = {line for f, line in _planted(extract) if f == name}
    assert planted, "at least one planted reject per file"
    kinds: Counter[str] = Counter()
    with open(extract / name, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if lineno in planted:
                with pytest.raises(ValidationError):
                    ADAPTER.validate_json(line)
                continue
            record = ADAPTER.validate_json(line)
            kinds[record.record_type] += 1  # type: ignore[attr-defined]
            assert record.source.agency == agency  # type: ignore[attr-defined]
            # the line is exactly the model's own serialisation: it ingests as-is
            assert record.model_dump_json() == line.rstrip("\n")  # type: ignore[attr-defined]
    assert kinds["person"] and kinds["case"] and kinds["case_note"]


def test_fhir_lines_are_patients_with_valid_nhs_numbers(extract: Path) -> None:
    name = FILES["HEA"]
    planted = {line for f, line in _planted(extract) if f == name}
    notes = _notes_by_id(extract)
    uses: Counter[str] = Counter()
    partial = 0
    with open(extract / name, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            res = json.loads(line)
            if lineno in planted:
                assert res["resourceType"] != "Patient" or _bad_birth_date(res["birthDate"])
                continue
            assert res["resourceType"] == "Patient"
            assert res["meta"]["versionId"].isdigit() and res["id"]
            assert res["gender"] in {"male", "female", "other", "unknown"}
            for ident in res.get("identifier", []):
                assert ident["system"] == NHS_NUMBER_SYSTEM
                valid = stdnum_nhs.is_valid(ident["value"])
                assert valid == ("invalid_nhs" not in notes[("HEA", res["id"])]), res["id"]
            for n in res["name"]:
                uses[n["use"]] += 1
                assert n["use"] in {"official", "nickname", "old"}
            if "birthDate" in res:
                parsed = parse_date(res["birthDate"])
                partial += parsed.precision != "day"
            for address in res["address"]:
                assert address["line"] and normalise_postcode(address["postalCode"])
    assert uses["official"] and uses["old"] and uses["nickname"]
    assert partial > 0


def _bad_birth_date(value: str) -> bool:
    try:
        parsed = parse_date(value)
    except ValueError:
        return True
    return parsed.year is not None and parsed.year > dt.date.today().year


def test_csv_has_exact_header_and_valid_rows(extract: Path) -> None:
    name = FILES["EDU"]
    planted = {line for f, line in _planted(extract) if f == name}
    assert planted
    notes = _notes_by_id(extract)
    text = (extract / name).read_text(encoding="utf-8")
    assert text.split("\n", 1)[0] == EXPECTED_HEADER
    assert tuple(EXPECTED_HEADER.split(",")) == EDUCATION_CSV_COLUMNS
    reader = csv.reader(text.splitlines())
    next(reader)
    precisions: Counter[str] = Counter()
    for lineno, row in enumerate(reader, 2):
        assert len(row) == len(EDUCATION_CSV_COLUMNS)
        rec = dict(zip(EDUCATION_CSV_COLUMNS, row, strict=True))
        if lineno in planted:
            assert _bad_birth_date(rec["date_of_birth"])
            continue
        if rec["date_of_birth"]:
            precisions[parse_date(rec["date_of_birth"]).precision] += 1
        assert rec["gender"] in {"male", "female"}
        assert rec["sensitivity"] in {"normal", "restricted", "sealed"}
        assert rec["dob_estimated"] in {"true", "false"}
        assert normalise_postcode(rec["postcode"]) and rec["uprn"].isdigit()
        assert stdnum_upn.is_valid(rec["upn"])
        if rec["former_upn"]:
            assert stdnum_upn.is_valid(rec["former_upn"])
        if rec["nhs_number"]:
            valid = stdnum_nhs.is_valid(rec["nhs_number"])
            assert valid == ("invalid_nhs" not in notes[("EDU", rec["source_id"])])
    assert precisions["day"] and precisions["month"] and precisions["year"]


# --- truth -------------------------------------------------------------------------------------
def _person_ids(out: Path) -> list[tuple[str, str]]:
    ids: list[tuple[str, str]] = []
    for agency in ("SC", "POL"):
        with open(out / FILES[agency], encoding="utf-8") as fh:
            for line in fh:
                data = json.loads(line)
                if data["record_type"] == "person":
                    ids.append((agency, data["source"]["source_id"]))
    with open(out / FILES["HEA"], encoding="utf-8") as fh:
        ids.extend(("HEA", json.loads(line)["id"]) for line in fh)
    with open(out / FILES["EDU"], encoding="utf-8", newline="") as fh:
        ids.extend(("EDU", r["source_id"]) for r in csv.DictReader(fh))
    return ids


def test_truth_covers_every_person_record(extract: Path) -> None:
    with open(extract / "truth.csv", encoding="utf-8", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == TRUTH_COLUMNS
    truth = _truth(extract)
    keys = [(r["agency"], r["source_id"]) for r in truth]
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted(_person_ids(extract))
    people = {r["person_key"] for r in truth}
    assert len(people) == 2000
    per_person = Counter(r["person_key"] for r in truth)
    assert set(per_person.values()) <= {1, 2, 3, 4}
    manifest = json.loads((extract / "manifest.json").read_text())
    assert manifest["person_records"] == len(truth)


def test_planted_rejects_listed_in_both_files(extract: Path) -> None:
    with open(extract / "planted_rejects.csv", encoding="utf-8", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == PLANTED_REJECT_COLUMNS
    planted = _planted(extract)
    flagged = [r for r in _truth(extract) if r["planted_invalid"] == "1"]
    assert len(flagged) == len(planted) >= 4
    assert {f for f, _ in planted} == set(FILES.values())
    assert all("planted_reject" in r["notes"].split(";") for r in flagged)
    # an invalid NHS number is kept and flagged, never a planted reject by itself
    invalid_nhs = [r for r in _truth(extract) if "invalid_nhs" in r["notes"].split(";")]
    assert invalid_nhs
    assert all(r["planted_invalid"] == "0" for r in invalid_nhs
               if "planted_reject" not in r["notes"].split(";"))


def test_at_least_one_planted_reject_per_file_at_200(tmp_path: Path) -> None:
    summary = generate_extracts(200, 1, tmp_path)
    assert {f for f, _ in _planted(tmp_path)} == set(FILES.values())
    assert summary.planted_rejects == len(_planted(tmp_path))


def test_no_planted_rejects_when_disabled(tmp_path: Path) -> None:
    generate_extracts(300, 1, tmp_path, plant_rejects=False)
    assert not _planted(tmp_path)
    with open(tmp_path / FILES["SC"], encoding="utf-8") as fh:
        for line in fh:
            ADAPTER.validate_json(line)


# --- realism -----------------------------------------------------------------------------------
def _person_views(out: Path) -> list[dict[str, object]]:
    """(agency, source id, given, family, dob, postcode) of every valid person record."""
    planted = _planted(out)
    views: list[dict[str, object]] = []
    for agency in ("SC", "POL"):
        with open(out / FILES[agency], encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if (FILES[agency], lineno) in planted:
                    continue
                rec = ADAPTER.validate_json(line)
                if isinstance(rec, PersonRecord):
                    views.append({
                        "agency": agency, "id": rec.source.source_id,
                        "given": (rec.given_names or "").split(" ")[0],
                        "family": rec.family_name, "dob": rec.date_of_birth,
                        "postcode": rec.addresses[-1].postcode if rec.addresses else None,
                    })
    return views


def test_twins_share_dob_surname_and_postcode(extract: Path) -> None:
    truth = {(r["agency"], r["source_id"]): r for r in _truth(extract)}
    groups: dict[tuple[object, ...], list[dict[str, object]]] = defaultdict(list)
    for v in _person_views(extract):
        if "twin" in truth[(v["agency"], v["id"])]["notes"]:  # type: ignore[index]
            groups[(v["agency"], v["dob"], v["family"], v["postcode"])].append(v)
    pairs = 0
    for members in groups.values():
        keys = {truth[(m["agency"], m["id"])]["person_key"] for m in members}  # type: ignore[index]
        if len(keys) >= 2:
            assert len({m["given"] for m in members}) >= 2
            pairs += 1
    assert pairs >= 3


def test_every_variant_kind_appears(extract: Path) -> None:
    seen: Counter[str] = Counter()
    for notes in _notes_by_id(extract).values():
        seen.update(notes)
    missing = [k for k in VARIANT_KINDS if not seen[k]]
    assert not missing
    total = sum(1 for _ in _truth(extract))
    # rough rates from the brief (of all person records)
    assert 0.02 < seen["typo"] / total < 0.08
    assert 0.015 < seen["swapped_dob"] / total < 0.05
    assert 0.015 < seen["year_only_dob"] / total < 0.05
    assert 0.005 < seen["restricted"] / total < 0.04


def test_name_variants_across_agencies(extract: Path) -> None:
    """Transliterations, dropped diacritics and Bob/Robert-style nicknames really occur."""
    text = "".join((extract / FILES[a]).read_text(encoding="utf-8") for a in FILES)
    assert any(n in text for n in ("Muhammad", "Mohammed", "Mohamed", "Mohammad"))
    assert any(ch in text for ch in "ąćęłńóśźżăâîșț")
    truth = _truth(extract)
    by_person: dict[str, list[str]] = defaultdict(list)
    for r in truth:
        by_person[r["person_key"]].append(r["notes"])
    assert any("diacritics_dropped" in ";".join(n) for n in by_person.values())


def test_unborn_children_in_social_care(extract: Path) -> None:
    notes = _notes_by_id(extract)
    found = 0
    with open(extract / FILES["SC"], encoding="utf-8") as fh:
        for line in fh:
            data = json.loads(line)
            if data.get("gender") == "unborn" and ("SC", data["source"]["source_id"]) in notes:
                if "planted_reject" in notes[("SC", data["source"]["source_id"])]:
                    continue
                rec = ADAPTER.validate_json(line)
                assert isinstance(rec, PersonRecord)
                assert rec.date_of_birth is None and rec.expected_birth_date
                assert rec.given_names == "Unborn" or (rec.given_names or "").startswith("Baby of ")
                found += 1
    assert found


# --- bounded memory ----------------------------------------------------------------------------
def _peak(tmp_path: Path, people: int) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        generate_extracts(people, 5, tmp_path / str(people))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_people(tmp_path: Path) -> None:
    """Streaming: the traced peak is the same few MB for 5k and 20k people (about 2.5 MB)."""
    small = _peak(tmp_path, 5_000)
    large = _peak(tmp_path, 20_000)
    assert large / small < 1.5, (small, large)
    assert large < 32 * 1024 * 1024, large


# --- command line ------------------------------------------------------------------------------
def test_generate_command(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from search_api.cli.generate_cmd import register

    app = typer.Typer()
    register(app)

    @app.command()
    def _other() -> None:  # a second command keeps "generate" a sub-command
        pass

    result = CliRunner().invoke(app, ["generate", "--people", "250", "--seed", "3", "--out",
                                      str(tmp_path / "cli"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "people/s" in result.output
    generate_extracts(250, 3, tmp_path / "api")
    assert _digest(tmp_path / "cli") == _digest(tmp_path / "api")
