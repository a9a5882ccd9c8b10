"""Streaming generator of synthetic multi-agency extracts with a known truth.

One household at a time: its true people are drawn (names, dates of birth, identifiers, an
address), each is assigned to the agencies that hold a record of them, and every agency's
record is rendered with that agency's own errors and habits (nicknames, transliterations,
typos, swapped or partial dates of birth, stale surnames and addresses, missing or invalid NHS
numbers). Records are written straight to the output files; only the current household is held
in memory, so the size of the extract does not bound the size of the run.

Determinism: every random choice comes from one ``random.Random(seed)`` and one
``Faker('en_GB')`` seeded with the same seed, in a fixed order, and dates are relative to a
fixed ``as_of`` date (not today). Same seed and options -> byte-identical files.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from faker import Faker
from nicknames import NickNamer
from stdnum.gb import nhs as stdnum_nhs
from stdnum.gb import upn as stdnum_upn

from analyzers.postcodes import normalise_postcode
from schemas.records import Case, CaseNote, PersonRecord
from schemas.synthetic import namedata as nd
from schemas.synthetic.casetext import note_text

__all__ = [
    "AGENCIES",
    "AS_OF",
    "EDUCATION_CSV_COLUMNS",
    "FILES",
    "NHS_NUMBER_SYSTEM",
    "PLANTED_REJECT_COLUMNS",
    "SOURCE_SYSTEMS",
    "TRUTH_COLUMNS",
    "VARIANT_KINDS",
    "GenerationSummary",
    "generate_extracts",
]

#: Dates are generated relative to this day, not to today, so output does not drift.
AS_OF = dt.date(2026, 1, 1)

AGENCIES: tuple[dict[str, str], ...] = (
    {"code": "SC", "name": "Children's Social Care", "kind": "social_care"},
    {"code": "POL", "name": "Police", "kind": "police"},
    {"code": "HEA", "name": "Health", "kind": "health"},
    {"code": "EDU", "name": "Education", "kind": "education"},
)
SOURCE_SYSTEMS: dict[str, str] = {
    "SC": "sc_case_management",
    "POL": "pol_records",
    "HEA": "hea_pas",
    "EDU": "edu_mis",
}
FILES: dict[str, str] = {
    "SC": "social_care.jsonl",
    "POL": "police.jsonl",
    "HEA": "health_patients.ndjson",
    "EDU": "education_pupils.csv",
}
FORMATS: dict[str, str] = {
    "SC": "jsonl",
    "POL": "jsonl",
    "HEA": "fhir_patient_ndjson",
    "EDU": "education_csv",
}
EDUCATION_CSV_COLUMNS: tuple[str, ...] = (
    "source_system", "source_id", "version", "given_names", "family_name",
    "former_family_name", "alias_given_names", "alias_family_name", "date_of_birth",
    "dob_estimated", "gender", "ethnicity_code", "nhs_number", "upn", "former_upn",
    "address_line1", "address_line2", "address_town", "postcode", "uprn", "sensitivity",
)  # fmt: skip
TRUTH_COLUMNS = ("agency", "source_system", "source_id", "person_key", "planted_invalid", "notes")
PLANTED_REJECT_COLUMNS = ("file", "line", "field", "reason")
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

#: Every kind of variation that can appear in truth.csv ``notes``.
VARIANT_KINDS: tuple[str, ...] = (
    "nickname", "spelling_variant", "transliteration", "diacritics_dropped", "typo",
    "swapped_dob", "year_only_dob", "month_only_dob", "missing_dob", "dob_estimated",
    "surname_change", "stale_surname", "hyphen_part", "missing_nhs", "invalid_nhs",
    "old_address", "address_history", "twin", "unborn", "restricted", "sealed", "alias",
    "gender_missing", "planted_reject",
)  # fmt: skip

# --- rates ----------------------------------------------------------------------------------
P_VARIANT_SPELLING = 0.4  # a non-canonical spelling of a name that has several
P_KEEP_DIACRITICS_ELSEWHERE = 0.15
P_NICKNAME = {"POL": 0.2, "SC": 0.1, "HEA": 0.04, "EDU": 0.05}
P_TYPO = 0.05
P_SWAP_IF_POSSIBLE = 0.078  # ~3% of all dates of birth (only day <= 12 != month can swap)
P_YEAR_ONLY = 0.03
P_MONTH_ONLY = 0.01
P_MISSING_DOB_POLICE = 0.03
P_DOB_ESTIMATED = 0.01
P_STALE_SURNAME = 0.3
P_HYPHEN_PART = 0.45
P_MISSING_NHS = 0.2  # non-health records
P_INVALID_NHS = 0.01
P_MOVED = 0.10
P_RESTRICTED = 0.02
P_SEALED = 0.005
P_ALIAS_POLICE = 0.03
P_ALIAS_EDU = 0.02
P_TWINS = 0.02
P_UNBORN = 0.04
#: Planted rejects: the (REJECT_OFFSET+1)-th person row of each file, then every REJECT_EVERY.
REJECT_EVERY = 500
REJECT_OFFSET = 3

_HOME_AREAS: tuple[tuple[str, str, int], ...] = (
    ("LS", "Leeds", 17), ("BD", "Bradford", 10), ("WF", "Wakefield", 17),
    ("HD", "Huddersfield", 8), ("HX", "Halifax", 7),
)  # fmt: skip
_AWAY_AREAS: tuple[tuple[str, str, int], ...] = (
    ("M", "Manchester", 40), ("B", "Birmingham", 40), ("S", "Sheffield", 14),
    ("NG", "Nottingham", 17), ("L", "Liverpool", 25), ("BS", "Bristol", 16),
    ("NE", "Newcastle upon Tyne", 15), ("E", "London", 17), ("N", "London", 22),
    ("HU", "Hull", 13),
)  # fmt: skip
_LOCALITIES = (
    "Armley", "Beeston", "Chapeltown", "Harehills", "Seacroft", "Holbeck", "Moortown",
    "Horsforth", "Pudsey", "Morley", "Rothwell", "Manningham", "Allerton", "Thornbury",
    "Ossett", "Normanton", "Lindley", "Illingworth", "Sowerby Bridge", "Hunslet",
)  # fmt: skip
_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # the letters a UPN may end with
_UPN_LA_NUMBERS = (383, 380, 384, 382, 381)  # West Yorkshire LA numbers (all in stdnum's list)
_NOTE_ROLES = ("Social Worker", "Senior Practitioner", "Family Support Worker",
               "Team Manager", "Early Help Practitioner")  # fmt: skip
_CASE_TYPES = (("referral", 0.35), ("early_help", 0.25), ("child_in_need", 0.2),
               ("child_protection_plan", 0.12), ("looked_after", 0.08))  # fmt: skip
_CASE_PREFIX = {"referral": "REF", "early_help": "EH", "child_in_need": "CIN",
                "child_protection_plan": "CP", "looked_after": "LAC"}  # fmt: skip
_RELATIONSHIP = {"mother": "mother", "father": "father"}
_ID_MOD = 10**8
_ID_MULT = 61_370_457  # coprime with 10**8: the id scramble is a bijection


@dataclass(slots=True)
class _Addr:
    line1: str
    line2: str
    town: str
    postcode: str
    uprn: str


@dataclass(slots=True)
class _Person:
    key: str
    role: str  # child | mother | father | unborn
    origin: str
    gender: str
    given: tuple[str, ...]
    middle: str | None
    family: tuple[str, ...]
    ethnicity: str
    dob: dt.date | None = None
    expected: dt.date | None = None
    hyphen_parts: tuple[str, str] | None = None
    former_family: str | None = None
    former_kind: str = "former"
    name_changed: dt.date | None = None
    nhs: str | None = None
    upn: str | None = None
    former_upn: str | None = None
    twin: bool = False
    keep_diacritics: str = ""
    agencies: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)
    planted: dict[str, int] = field(default_factory=dict)
    sensitivity: dict[str, str] = field(default_factory=dict)
    shown_given: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Household:
    origin: str
    address: _Addr
    old_address: _Addr | None
    moved_on: dt.date | None
    members: list[_Person]
    sc: bool
    pol: bool


@dataclass(slots=True)
class _View:
    """One agency's rendering of one person."""

    given: str
    middle: str | None
    family: str
    dob: dt.date | None
    precision: str
    dob_estimated: bool
    gender: str
    nhs: str | None
    addresses: list[tuple[_Addr, dt.date | None, dt.date | None]]
    sensitivity: str
    version: int
    notes: list[str]
    former: str | None = None
    nickname: str | None = None
    alias: tuple[str, str] | None = None


@dataclass
class GenerationSummary:
    people: int
    seed: int
    out: Path
    files: dict[str, int]  # file name -> lines (excluding any header)
    person_records: int
    planted_rejects: int
    elapsed_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.people / self.elapsed_seconds if self.elapsed_seconds else 0.0


def _scramble(n: int, offset: int) -> int:
    return (n * _ID_MULT + offset) % _ID_MOD


def nhs_number_for(index: int, offset: int = 0) -> str:
    """A valid NHS number unique to ``index`` (< 10**7), from the unallocated 9xx range.

    The check digit comes from stdnum's modulus 11 checksum; a prefix whose check digit would
    be 10 (never issued), or the dummy 9999999999, is skipped for the next candidate owned by
    the same index.
    """
    for k in range(10):
        prefix = "9" + f"{_scramble(index + k * 10**7, offset):08d}"
        check = (11 - stdnum_nhs.checksum(prefix + "0")) % 11
        if check < 10 and prefix != "999999999":  # 9999999999 is a dummy, not a number
            return prefix + str(check)
    raise ValueError(f"no NHS number for index {index}")  # pragma: no cover - (1/11)**10


def invalid_nhs_number(valid: str) -> str:
    """The same number with a wrong check digit (any other last digit fails modulus 11)."""
    return valid[:9] + str((int(valid[9]) + 1 + int(valid[8]) % 8) % 10)


def upn_for(index: int, la: int, year: int, temporary: bool = False) -> str:
    """A valid UPN unique to ``index``: check letter, LA, establishment, year, serial."""
    if temporary:
        letter = _UPN_LETTERS[(index // 10**6) % len(_UPN_LETTERS)]
        body = f"{la:03d}{(index // 100) % 10000:04d}{year % 100:02d}{index % 100:02d}{letter}"
    else:
        body = f"{la:03d}{(index // 1000) % 10000:04d}{year % 100:02d}{index % 1000:03d}"
    return stdnum_upn.calc_check_digit(body) + body


def _drop(name: str | None) -> str | None:
    return nd.drop_diacritics(name) if name else name


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


class _Generator:
    def __init__(self, seed: int, as_of: dt.date) -> None:
        self.seed = seed
        self.as_of = as_of
        self.rng = random.Random(seed)
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed)
        self.nicknamer = NickNamer()
        self._nick_cache: dict[str, tuple[str, ...]] = {}
        self.person_index = 0
        self.address_index = 0
        self.offsets: dict[str, int] = {}
        self.counters: dict[str, int] = {}
        self.person_rows: dict[str, int] = {a: 0 for a in FILES}
        self.reject_counts: dict[str, int] = {a: 0 for a in FILES}
        self.plant_rejects = True
        self._origin_names = list(nd.ORIGINS)
        self._origin_weights = [nd.ORIGINS[o][0] for o in self._origin_names]
        f = self.fake
        person = f.provider("faker.providers.person")
        assert person is not None
        self.first_female: tuple[str, ...] = tuple(person.first_names_female)
        self.first_male: tuple[str, ...] = tuple(person.first_names_male)
        last = person.last_names
        self.last_names: list[str] = list(last)
        self.last_cum: list[float] = list(itertools.accumulate(last.values()))
        self.streets = [
            f"{f.last_name() if self.rng.random() < 0.7 else f.first_name()} "
            f"{self.rng.choice(nd.STREET_SUFFIXES)}"
            for _ in range(600)
        ]
        self.buildings = [f"{f.last_name()} {self.rng.choice(nd.BUILDING_NAMES)}"
                          for _ in range(120)]
        self.home_sectors = [self._sector(_HOME_AREAS) for _ in range(240)]
        self.away_sectors = [self._sector(_AWAY_AREAS) for _ in range(80)]

    # --- small helpers ----------------------------------------------------------------------
    def _sector(self, areas: tuple[tuple[str, str, int], ...]) -> tuple[str, str]:
        area, town, districts = self.rng.choice(areas)
        sector = f"{area}{self.rng.randint(1, districts)} {self.rng.randint(0, 9)}"
        if normalise_postcode(sector + "AB") is None:  # pragma: no cover - table error
            raise ValueError(f"bad postcode sector {sector}")
        return sector, town

    def _offset(self, name: str) -> int:
        offset = self.offsets.get(name)
        if offset is None:
            offset = self.offsets[name] = random.Random(f"{self.seed}:{name}").randrange(_ID_MOD)
        return offset

    def _next_id(self, name: str) -> int:
        n = self.counters.get(name, 0)
        self.counters[name] = n + 1
        return _scramble(n, self._offset(name))

    def _date_between(self, start: dt.date, end: dt.date) -> dt.date:
        span = (end - start).days
        return start + dt.timedelta(days=self.rng.randint(0, max(span, 0)))

    def _weighted(self, options: tuple[tuple[str, float], ...]) -> str:
        r = self.rng.random() * sum(w for _, w in options)
        for value, weight in options:
            r -= weight
            if r < 0:
                return value
        return options[-1][0]

    def last_name(self) -> str:
        """A surname drawn with Faker en_GB's own frequency weights."""
        return self.rng.choices(self.last_names, cum_weights=self.last_cum)[0]

    def nicknames_of(self, name: str) -> tuple[str, ...]:
        cached = self._nick_cache.get(name)
        if cached is None:
            short = nd.WEST_AFRICAN_SHORT.get(name)
            if short:
                cached = (short,)
            elif name.isascii() and name.isalpha():
                cached = tuple(
                    n.capitalize()
                    for n in sorted(self.nicknamer.nicknames_of(name.lower()))
                    if len(n) >= 2 and n != name.lower()
                )
            else:
                cached = ()
            self._nick_cache[name] = cached
        return cached

    def _typo(self, name: str) -> str:
        rng = self.rng
        for _ in range(5):
            pos = rng.randint(1, len(name) - 1) if len(name) > 1 and rng.random() < 0.9 else 0
            op = rng.random()
            letter = rng.choice("abcdefghijklmnoprstuvwy")
            if pos == 0:
                letter = letter.upper()
            if op < 0.35:
                out = name[:pos] + letter + name[pos + 1:]
            elif op < 0.6 and len(name) > 2:
                out = name[:pos] + name[pos + 1:]
            elif op < 0.8:
                out = name[:pos] + letter + name[pos:]
            elif pos + 1 < len(name):
                out = name[:pos] + name[pos + 1] + name[pos] + name[pos + 2:]
            else:
                out = name + letter
            if out != name and out.strip():
                return out
        return name + "e"

    # --- truth ------------------------------------------------------------------------------
    def _address(self, home: bool = True) -> _Addr:
        rng = self.rng
        sector, town = rng.choice(self.home_sectors if home else self.away_sectors)
        postcode = sector + rng.choice(_UNIT_LETTERS) + rng.choice(_UNIT_LETTERS)
        street = rng.choice(self.streets)
        number = rng.randint(1, 220)
        if rng.random() < 0.25:
            line1 = f"Flat {rng.randint(1, 40)}, {rng.choice(self.buildings)}"
            line2 = f"{number} {street}"
        else:
            line1 = f"{number} {street}"
            line2 = rng.choice(_LOCALITIES) if home and rng.random() < 0.4 else ""
        self.address_index += 1
        uprn = str(10_000_000_000 + _scramble(self.address_index, self._offset("uprn")) * 10
                   + rng.randint(0, 9))
        return _Addr(line1, line2, town, postcode, uprn)

    def _given(self, origin: str, gender: str, child: bool) -> tuple[str, ...]:
        rng = self.rng
        female = gender == "female"
        if origin == "british":
            if rng.random() < (0.3 if child else 0.1):
                table = nd.BRITISH_FEMALE_VARIANTS if female else nd.BRITISH_MALE_VARIANTS
                return rng.choice(table)
            return (rng.choice(self.first_female if female else self.first_male),)
        pools = {
            "south_asian": (nd.SOUTH_ASIAN_FEMALE, nd.SOUTH_ASIAN_MALE),
            "polish": (nd.POLISH_FEMALE, nd.POLISH_MALE),
            "romanian": (nd.ROMANIAN_FEMALE, nd.ROMANIAN_MALE),
            "ukrainian": (nd.UKRAINIAN_FEMALE, nd.UKRAINIAN_MALE),
            "west_african": (nd.WEST_AFRICAN_FEMALE, nd.WEST_AFRICAN_MALE),
            "somali": (nd.SOMALI_FEMALE, nd.SOMALI_MALE),
        }[origin]
        return rng.choice(pools[0] if female else pools[1])

    def _middle(self, origin: str, gender: str) -> str | None:
        if self.rng.random() >= (0.5 if origin == "british" else 0.2):
            return None
        return self._given(origin, gender, child=False)[0]

    def _surname(self, origin: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(masculine spellings, feminine spellings) of a family surname."""
        rng = self.rng
        if origin == "british":
            sp = (rng.choice(nd.BRITISH_SURNAME_VARIANTS) if rng.random() < 0.15
                  else (self.last_name(),))
            return sp, sp
        if origin == "polish":
            male, female = rng.choice(nd.POLISH_SURNAMES)
            return (male,), (female,)
        table = {
            "south_asian": nd.SOUTH_ASIAN_SURNAMES, "romanian": nd.ROMANIAN_SURNAMES,
            "ukrainian": nd.UKRAINIAN_SURNAMES, "west_african": nd.WEST_AFRICAN_SURNAMES,
            "somali": nd.SOMALI_SURNAMES,
        }[origin]
        sp = rng.choice(table)
        return sp, sp

    @staticmethod
    def _form(surname: tuple[tuple[str, ...], tuple[str, ...]], gender: str) -> tuple[str, ...]:
        return surname[1] if gender == "female" else surname[0]

    def _new_person(self, role: str, origin: str, gender: str, given: tuple[str, ...],
                    middle: str | None, family: tuple[str, ...], ethnicity: str) -> _Person:
        self.person_index += 1
        return _Person(
            key=f"P{self.person_index:08d}", role=role, origin=origin, gender=gender,
            given=given, middle=middle, family=family, ethnicity=ethnicity,
        )

    def household(self, limit: int) -> _Household:
        rng, as_of = self.rng, self.as_of
        origin = rng.choices(self._origin_names, self._origin_weights)[0]
        ethnicities = nd.ORIGINS[origin][1]
        ethnicity = self._weighted(ethnicities)
        address = self._address(home=True)
        old_address: _Addr | None = None
        moved_on: dt.date | None = None
        if rng.random() < P_MOVED:
            old_address = self._address(home=rng.random() < 0.7)
            moved_on = self._date_between(as_of - dt.timedelta(days=3 * 365), as_of)

        # children's dates of birth: mostly 2006-2025; a few care leavers born 2002-2005
        n_births = rng.choices((1, 2, 3, 4, 5), (35, 33, 18, 9, 5))[0]
        if rng.random() < 0.04:
            first = self._date_between(dt.date(2002, 1, 1), dt.date(2005, 12, 31))
        else:
            first = self._date_between(dt.date(2006, 1, 1), as_of - dt.timedelta(days=1))
        births: list[tuple[dt.date, bool]] = []
        dob = first
        for b in range(n_births):
            if b:
                dob = dob + dt.timedelta(days=rng.randint(300, 1500))
                if dob >= as_of:
                    break
            births.append((dob, rng.random() < P_TWINS))

        mother_age = rng.randint(16, 38)
        mother_dob = first - dt.timedelta(days=int(mother_age * 365.25) + rng.randint(0, 364))
        hh_surname = self._surname(origin)
        mother = self._new_person("mother", origin, "female", self._given(origin, "female", False),
                                  self._middle(origin, "female"), self._form(hh_surname, "female"),
                                  ethnicity)
        mother.dob = mother_dob
        members = [mother]
        father: _Person | None = None
        married = False
        father_surname = hh_surname
        if rng.random() < 0.55:
            married = rng.random() < 0.15
            father_surname = self._surname(origin)
            father = self._new_person("father", origin, "male", self._given(origin, "male", False),
                                      self._middle(origin, "male"),
                                      self._form(father_surname, "male"), ethnicity)
            father.dob = mother_dob - dt.timedelta(days=rng.randint(-3 * 365, 8 * 365))
            members.append(father)
            if married:
                mother.former_family = mother.family[0]
                mother.former_kind = "maiden"
                mother.family = self._form(father_surname, "female")
                mother.name_changed = self._date_between(
                    mother_dob + dt.timedelta(days=18 * 365), first)
        # the children's surname
        hyphen_with: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        child_surname = hh_surname
        if father is not None and married:
            child_surname = father_surname
        elif father is not None:
            r = rng.random()
            if r < 0.37:
                child_surname = father_surname
            elif r >= 0.92:
                hyphen_with = father_surname
        elif rng.random() < 0.04:
            hyphen_with = self._surname(origin)
        hyphen_first = rng.random() < 0.5  # one order for the whole sibling group

        for dob, twins in births:
            n = 2 if twins else 1
            genders = ["female" if rng.random() < 0.5 else "male"]
            if n == 2:
                same = rng.random() < 0.6 or origin == "polish"
                genders.append(genders[0] if same else
                               ("male" if genders[0] == "female" else "female"))
            changed = rng.random() < 0.03
            new_surname = self._surname(origin) if changed else None
            change_date = (self._date_between(dob + dt.timedelta(days=60), as_of)
                           if changed else None)
            used_given: set[str] = set()
            for gender in genders:
                given = self._given(origin, gender, True)
                while given[0] in used_given:
                    given = self._given(origin, gender, True)
                used_given.add(given[0])
                family = self._form(child_surname, gender)
                child = self._new_person("child", origin, gender, given,
                                         self._middle(origin, gender), family, ethnicity)
                if hyphen_with is not None:
                    other = self._form(hyphen_with, gender)[0]
                    parts = (family[0], other) if hyphen_first else (other, family[0])
                    if parts[0] != parts[1]:
                        child.family = (f"{parts[0]}-{parts[1]}",)
                        child.hyphen_parts = parts
                if new_surname is not None:
                    child.former_family = child.family[0]
                    child.family = self._form(new_surname, gender)
                    child.name_changed = change_date
                    child.hyphen_parts = None
                    if child.former_family == child.family[0]:
                        child.former_family = None
                child.dob = dob
                child.twin = n == 2
                members.append(child)

        if rng.random() < P_UNBORN and mother_age + (as_of - first).days // 365 < 44:
            mother_surname = mother.family[0]
            placeholder = "Unborn" if rng.random() < 0.5 else f"Baby of {mother_surname}"
            unborn = self._new_person("unborn", origin, "unborn", (placeholder,), None,
                                      (mother_surname,), ethnicity)
            unborn.expected = as_of + dt.timedelta(days=rng.randint(14, 250))
            members.append(unborn)

        del members[limit:]
        for p in members:
            if p.role != "unborn":
                p.nhs = nhs_number_for(self.person_index_of(p), self._offset("nhs"))
            if p.role == "child" and p.dob and 4 <= (as_of.year - p.dob.year) <= 19:
                la = rng.choice(_UPN_LA_NUMBERS)
                p.upn = upn_for(self.person_index_of(p), la, p.dob.year + 4)
                if rng.random() < 0.03:
                    p.former_upn = upn_for(self.person_index_of(p), la, p.dob.year + 4, True)
        hh = _Household(origin, address, old_address, moved_on, members,
                        sc=rng.random() < 0.7 or members[-1].role == "unborn",
                        pol=rng.random() < 0.3)
        self._assign_agencies(hh)
        return hh

    @staticmethod
    def person_index_of(p: _Person) -> int:
        return int(p.key[1:])

    def _assign_agencies(self, hh: _Household) -> None:
        rng, as_of = self.rng, self.as_of
        children_in_sc = False
        for p in hh.members[::-1]:  # children first, so parents can follow them into SC
            agencies: list[str] = []
            if p.role == "unborn":
                agencies = ["SC"]
            elif p.role == "child":
                school_age = p.dob is not None and 4 <= (as_of - p.dob).days // 365 <= 18
                if hh.sc and rng.random() < 0.9:
                    agencies.append("SC")
                if hh.pol and rng.random() < 0.45:
                    agencies.append("POL")
                if rng.random() < 0.75:
                    agencies.append("HEA")
                if school_age and rng.random() < 0.85:
                    agencies.append("EDU")
                if not agencies:
                    agencies.append("EDU" if school_age else "HEA")
            else:
                share_sc = 0.95 if p.role == "mother" else 0.7
                if hh.sc and children_in_sc and rng.random() < share_sc:
                    agencies.append("SC")
                if hh.pol and rng.random() < (0.55 if p.role == "mother" else 0.7):
                    agencies.append("POL")
                if rng.random() < 0.6:
                    agencies.append("HEA")
                if not agencies:
                    agencies.append("HEA")
            p.agencies = [a for a in FILES if a in agencies]  # file order
            if "SC" in p.agencies:
                children_in_sc = True
            if any(nd.has_diacritics(n) for n in (*p.given, *p.family, p.middle or "")):
                p.keep_diacritics = rng.choice(p.agencies)

    # --- ids and planted rejects ------------------------------------------------------------
    def allocate(self, hh: _Household) -> None:
        prefixes = {"SC": "SC-P", "POL": "NOM-", "HEA": "PAS-", "EDU": "PUP-"}
        for p in hh.members:
            for agency in p.agencies:
                p.ids[agency] = f"{prefixes[agency]}{self._next_id(agency):08d}"
                row = self.person_rows[agency]
                self.person_rows[agency] = row + 1
                if self.plant_rejects and row % REJECT_EVERY == REJECT_OFFSET:
                    p.planted[agency] = self.reject_counts[agency] % 3
                    self.reject_counts[agency] += 1
                r = self.rng.random()
                p.sensitivity[agency] = (
                    "sealed" if r < P_SEALED else
                    "restricted" if r < P_SEALED + P_RESTRICTED else "normal"
                )

    # --- one agency's view of one person ----------------------------------------------------
    def view(self, p: _Person, hh: _Household, agency: str) -> _View:
        rng = self.rng
        notes: list[str] = []
        unborn = p.role == "unborn"
        family_sp = p.family
        former: str | None = None
        if p.hyphen_parts and rng.random() < P_HYPHEN_PART:
            family_sp = (rng.choice(p.hyphen_parts),)
            notes.append("hyphen_part")
        if p.former_family:
            if rng.random() < P_STALE_SURNAME:
                family_sp = (p.former_family,)
                notes.append("stale_surname")
            else:
                former = p.former_family
                notes.append("surname_change")
        kind = "spelling_variant" if p.origin == "british" else "transliteration"
        given = p.given[0]
        if len(p.given) > 1 and rng.random() < P_VARIANT_SPELLING:
            given = rng.choice(p.given[1:])
            notes.append(kind)
        family = family_sp[0]
        if len(family_sp) > 1 and rng.random() < P_VARIANT_SPELLING:
            family = rng.choice(family_sp[1:])
            if kind not in notes:
                notes.append(kind)
        middle = p.middle
        if p.keep_diacritics and (
            agency != p.keep_diacritics and rng.random() >= P_KEEP_DIACRITICS_ELSEWHERE
        ):
            dropped = (_drop(given), _drop(family), _drop(middle), _drop(former))
            if dropped != (given, family, middle, former):
                notes.append("diacritics_dropped")
            given, family = dropped[0] or given, dropped[1] or family
            middle, former = dropped[2], dropped[3]
        nickname: str | None = None
        if not unborn and rng.random() < P_NICKNAME[agency]:
            nicks = self.nicknames_of(p.given[0])
            if nicks:
                nickname = rng.choice(nicks)
                notes.append("nickname")
                if agency == "POL":
                    given, nickname = nickname, None
        if not unborn and rng.random() < P_TYPO:
            if rng.random() < 0.6:
                given = self._typo(given)
            else:
                family = self._typo(family)
            notes.append("typo")
        alias: tuple[str, str] | None = None
        p_alias = P_ALIAS_POLICE if agency == "POL" else P_ALIAS_EDU if agency == "EDU" else 0.0
        adult_enough = p.dob is not None and (self.as_of - p.dob).days > 10 * 365
        if adult_enough and p_alias and rng.random() < p_alias:
            other_given = self._given(p.origin, p.gender, p.role == "child")[0]
            other_family = (self.last_name() if rng.random() < 0.6 else family)
            alias = (other_given, other_family)
            notes.append("alias")

        dob, precision, estimated = p.dob, "day", False
        if dob is not None:
            r = rng.random()
            if r < P_YEAR_ONLY:
                dob, precision = dt.date(dob.year, 1, 1), "year"
                notes.append("year_only_dob")
            elif r < P_YEAR_ONLY + P_MONTH_ONLY:
                dob, precision = dt.date(dob.year, dob.month, 1), "month"
                notes.append("month_only_dob")
            elif agency == "POL" and r < P_YEAR_ONLY + P_MONTH_ONLY + P_MISSING_DOB_POLICE:
                dob, precision = None, "unknown"
                notes.append("missing_dob")
            elif dob.day <= 12 and dob.day != dob.month and rng.random() < P_SWAP_IF_POSSIBLE:
                dob = dt.date(dob.year, dob.day, dob.month)
                notes.append("swapped_dob")
            elif agency in ("SC", "EDU") and rng.random() < P_DOB_ESTIMATED:
                estimated = True
                notes.append("dob_estimated")
        else:
            precision = "unknown"

        gender = p.gender
        if agency == "POL" and not unborn and rng.random() < 0.01:
            gender = "not_recorded"
            notes.append("gender_missing")

        nhs: str | None = None
        if p.nhs:
            if agency != "HEA" and rng.random() < P_MISSING_NHS:
                notes.append("missing_nhs")
            else:
                nhs = p.nhs
                if rng.random() < P_INVALID_NHS:
                    nhs = invalid_nhs_number(nhs)
                    notes.append("invalid_nhs")

        addresses: list[tuple[_Addr, dt.date | None, dt.date | None]] = [(hh.address, None, None)]
        if hh.old_address is not None and hh.moved_on is not None and not (
            p.dob and p.dob >= hh.moved_on
        ):
            r = rng.random()
            if r < 0.35:
                addresses = [(hh.old_address, None, None)]
                notes.append("old_address")
            elif r < 0.6 and agency != "EDU":
                addresses = [(hh.old_address, None, hh.moved_on),
                             (hh.address, hh.moved_on, None)]
                notes.append("address_history")
            elif r < 0.6:  # one address column in the CSV: the school has the old one
                addresses = [(hh.old_address, None, None)]
                notes.append("old_address")

        sensitivity = p.sensitivity[agency]
        if sensitivity != "normal":
            notes.append(sensitivity)
        if p.twin:
            notes.append("twin")
        if unborn:
            notes.append("unborn")
        version = 1 if rng.random() < 0.9 else rng.randint(2, 4)
        p.shown_given[agency] = given
        return _View(given=given, middle=middle, family=family, dob=dob, precision=precision,
                     dob_estimated=estimated, gender=gender, nhs=nhs, addresses=addresses,
                     sensitivity=sensitivity, version=version, notes=notes, former=former,
                     nickname=nickname, alias=alias)

    # --- serialisers ------------------------------------------------------------------------
    def person_json(self, p: _Person, hh: _Household, agency: str, v: _View) -> str:
        """The agency's record, validated by the wire model and written as its own JSON."""
        rng = self.rng
        given_names = f"{v.given} {v.middle}" if v.middle else v.given
        names: list[dict[str, Any]] = []
        if v.former:
            names.append({"type": p.former_kind, "given_names": v.given,
                          "family_name": v.former, "to_date": p.name_changed})
        if v.nickname:
            names.append({"type": "preferred", "given_names": v.nickname})
        if v.alias:
            names.append({"type": "alias", "given_names": v.alias[0], "family_name": v.alias[1]})
        identifiers: list[dict[str, Any]] = []
        if v.nhs:
            value = v.nhs if rng.random() < 0.85 else stdnum_nhs.format(v.nhs)
            verification = (("verified" if rng.random() < 0.6 else "unverified")
                            if agency == "SC" else None)
            identifiers.append({"type": "nhs_number", "value": value,
                                "nhs_verification": verification})
        if agency == "SC" and p.upn and rng.random() < 0.35:
            identifiers.append({"type": "upn", "value": p.upn})
        relationships: list[dict[str, str]] = []
        if agency == "SC" and p.role in ("child", "unborn"):
            for other in hh.members:
                if other is p or "SC" not in other.ids or "SC" in other.planted:
                    continue
                rel = _RELATIONSHIP.get(other.role, "sibling")
                relationships.append({"type": rel, "related_source_id": other.ids["SC"]})
        ethnicity: str | None = p.ethnicity
        if agency == "POL":
            ethnicity = nd.POLICE_ETHNICITY.get(p.ethnicity, "NS")
        elif rng.random() < 0.05:
            ethnicity = None
        data: dict[str, Any] = {
            "source": {"agency": agency, "source_system": SOURCE_SYSTEMS[agency],
                       "source_id": p.ids[agency], "version": v.version},
            "given_names": given_names,
            "family_name": v.family,
            "names": names,
            "date_of_birth": v.dob,
            "dob_precision": v.precision,
            "dob_estimated": v.dob_estimated,
            "expected_birth_date": p.expected,
            "gender": v.gender,
            "ethnicity_code": ethnicity,
            "identifiers": identifiers,
            "addresses": [
                {"type": "home", "lines": [x for x in (a.line1, a.line2) if x],
                 "postcode": a.postcode, "uprn": a.uprn if agency == "SC" else None,
                 "from_date": start, "to_date": end}
                for a, start, end in v.addresses
            ],
            "relationships": relationships,
            "sensitivity": v.sensitivity,
        }
        return PersonRecord.model_validate(data).model_dump_json()

    def person_fhir(self, p: _Person, agency: str, v: _View) -> dict[str, Any]:
        meta: dict[str, Any] = {"versionId": str(v.version), "source": SOURCE_SYSTEMS[agency]}
        if v.sensitivity != "normal":
            code, display = (("R", "restricted") if v.sensitivity == "restricted"
                             else ("V", "very restricted"))
            meta["security"] = [{"system": CONFIDENTIALITY_SYSTEM, "code": code,
                                 "display": display}]
        res: dict[str, Any] = {"resourceType": "Patient", "id": p.ids[agency], "meta": meta}
        if v.nhs:
            res["identifier"] = [{"system": NHS_NUMBER_SYSTEM, "value": v.nhs}]
        given = [v.given] + ([v.middle] if v.middle else [])
        names: list[dict[str, Any]] = [{"use": "official", "family": v.family, "given": given}]
        if v.former:
            old: dict[str, Any] = {"use": "old", "family": v.former, "given": given}
            if p.name_changed:
                old["period"] = {"end": p.name_changed.isoformat()}
            names.append(old)
        if v.nickname:
            names.append({"use": "nickname", "given": [v.nickname]})
        res["name"] = names
        res["gender"] = v.gender if v.gender in ("male", "female", "other") else "unknown"
        if v.dob is not None:
            res["birthDate"] = (v.dob.isoformat() if v.precision == "day"
                                else f"{v.dob.year:04d}-{v.dob.month:02d}"
                                if v.precision == "month" else f"{v.dob.year:04d}")
        addresses = []
        for a, start, end in v.addresses:
            item: dict[str, Any] = {"use": "old" if end else "home",
                                    "line": [x for x in (a.line1, a.line2) if x],
                                    "city": a.town, "postalCode": self._pc_style(a.postcode)}
            if start or end:
                item["period"] = {k: d.isoformat() for k, d in (("start", start), ("end", end))
                                  if d}
            addresses.append(item)
        res["address"] = addresses
        return res

    def _pc_style(self, postcode: str) -> str:
        r = self.rng.random()
        if r < 0.05:
            return postcode.replace(" ", "")
        if r < 0.08:
            return postcode.lower()
        return postcode

    def person_csv(self, p: _Person, agency: str, v: _View) -> list[str]:
        rng = self.rng
        if v.dob is None:
            dob = ""
        elif v.precision == "day":
            dob = v.dob.strftime("%d/%m/%Y")
        elif v.precision == "month":
            dob = v.dob.strftime("%m/%Y")
        else:
            dob = f"{v.dob.year:04d}"
        addr = v.addresses[-1][0]
        nhs = v.nhs or ""
        if nhs and rng.random() < 0.15:
            nhs = stdnum_nhs.format(nhs)
        alias_given = v.alias[0] if v.alias else (v.nickname or "")
        alias_family = v.alias[1] if v.alias else ""
        ethnicity = p.ethnicity if rng.random() >= 0.05 else ""
        return [
            SOURCE_SYSTEMS[agency], p.ids[agency], str(v.version),
            f"{v.given} {v.middle}" if v.middle else v.given, v.family, v.former or "",
            alias_given, alias_family, dob, "true" if v.dob_estimated else "false",
            v.gender, ethnicity, nhs, p.upn or "", p.former_upn or "",
            addr.line1, addr.line2, addr.town, self._pc_style(addr.postcode), addr.uprn,
            v.sensitivity,
        ]

    # --- cases ------------------------------------------------------------------------------
    def cases(self, hh: _Household, agency: str) -> Iterator[Case | CaseNote]:
        rng, as_of = self.rng, self.as_of
        police = agency == "POL"
        subjects = [p for p in hh.members if agency in p.ids and agency not in p.planted
                    and (police or p.role in ("child", "unborn"))]
        if not subjects:
            return
        n_cases = rng.choices((1, 2, 3), (60, 30, 10))[0] if not police else rng.randint(1, 2)
        for _ in range(n_cases):
            if police:
                ctype, chosen = "police_incident", subjects
            else:
                ctype = self._weighted(_CASE_TYPES)
                chosen = [rng.choice(subjects)] if ctype == "looked_after" else subjects
            born = [p.dob for p in chosen if p.dob]
            earliest = max(born) if born else as_of - dt.timedelta(days=120)
            earliest = max(earliest, as_of - dt.timedelta(days=6 * 365))
            opened = self._date_between(earliest, as_of - dt.timedelta(days=1))
            closed = None
            if rng.random() < 0.5:
                closed = opened + dt.timedelta(days=rng.randint(7, 700))
                if closed >= as_of:
                    closed = None
            levels = [p.sensitivity[agency] for p in chosen]
            sensitivity = ("sealed" if "sealed" in levels else
                           "restricted" if "restricted" in levels else "normal")
            number = self._next_id(agency + "-case")
            case_id = f"{'INC' if police else 'SC-C'}{number:08d}"
            prefix = "INC" if police else _CASE_PREFIX[ctype]
            yield Case.model_validate({
                "source": {"agency": agency, "source_system": SOURCE_SYSTEMS[agency],
                           "source_id": case_id, "version": 1},
                "case_number": f"{prefix}/{opened.year}/{number % 100000:05d}",
                "type": ctype,
                "status": "closed" if closed else "open",
                "opened": opened,
                "closed": closed,
                "subject_source_ids": [p.ids[agency] for p in chosen],
                "sensitivity": sensitivity,
            })
            end = closed or as_of
            span = max((end - opened).days, 1)
            offsets = sorted(rng.randint(0, span - 1) for _ in range(rng.randint(0, 5)))
            for offset in offsets:
                child = rng.choice(chosen)
                kind, text = note_text(rng, ctype, child.shown_given.get(agency, child.given[0]))
                at = dt.datetime.combine(opened + dt.timedelta(days=offset),
                                         dt.time(rng.randint(8, 18), rng.randint(0, 59)))
                author = (f"PC {rng.randint(1000, 9999)}" if police
                          else f"{rng.choice(_NOTE_ROLES)} {rng.randint(100, 999)}")
                note_id = f"{'POLN' if police else 'SC-N'}{self._next_id(agency + '-note'):08d}"
                yield CaseNote.model_validate({
                    "source": {"agency": agency, "source_system": SOURCE_SYSTEMS[agency],
                               "source_id": note_id, "version": 1},
                    "case_source_id": case_id, "author": author, "recorded_at": at,
                    "type": kind, "text": text, "sensitivity": sensitivity,
                })


# --- planted rejects --------------------------------------------------------------------------
def _plant_json(line: str, kind: int, p: _Person) -> tuple[str, str, str]:
    data = json.loads(line)
    year = (p.dob or p.expected or AS_OF).year
    if kind == 0:
        data["gender"] = "x"
        field_name, reason = "gender", "unknown gender code 'x'"
    elif kind == 1:
        data["date_of_birth"] = f"{year + 100:04d}-03-14"
        field_name, reason = "date_of_birth", "date of birth in the future"
    else:
        data["date_of_birth"] = f"{year:04d}-02-31"
        field_name, reason = "date_of_birth", "impossible date (31 February)"
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")), field_name, reason


def _plant_fhir(res: dict[str, Any], kind: int, p: _Person) -> tuple[dict[str, Any], str, str]:
    year = (p.dob or AS_OF).year
    if kind == 0:
        obs = {"resourceType": "Observation", "id": res["id"], "meta": res["meta"],
               "status": "final", "code": {"text": "Body weight"},
               "subject": {"reference": f"Patient/{res['id']}"},
               "valueQuantity": {"value": 18.2, "unit": "kg"}}
        return obs, "resourceType", "Observation resource in a Patient feed"
    if kind == 1:
        res["birthDate"] = f"{year:04d}-02-31"
        return res, "birthDate", "impossible date (31 February)"
    res["birthDate"] = f"{year + 100:04d}-03-14"
    return res, "birthDate", "date of birth in the future"


def _plant_csv(row: list[str], kind: int, p: _Person) -> tuple[list[str], str, str]:
    year = (p.dob or AS_OF).year
    i = EDUCATION_CSV_COLUMNS.index("date_of_birth")
    if kind == 0:
        row[i] = f"31/02/{year:04d}"
        reason = "impossible date 31/02"
    elif kind == 1:
        row[i] = f"14/03/{year + 100:04d}"
        reason = "date of birth in the future"
    else:
        row[i] = f"15/13/{year:04d}"
        reason = "impossible month 13"
    return row, "date_of_birth", reason


class _Out:
    """Open output files with line counters."""

    def __init__(self, stack: ExitStack, out: Path) -> None:
        def open_(name: str) -> IO[str]:
            return stack.enter_context(open(out / name, "w", encoding="utf-8", newline=""))

        self.handles = {a: open_(name) for a, name in FILES.items()}
        self.lines = {a: 0 for a in FILES}
        self.edu_csv = csv.writer(self.handles["EDU"], lineterminator="\n")
        self.edu_csv.writerow(EDUCATION_CSV_COLUMNS)
        self.lines["EDU"] = 1  # the header is line 1
        self.truth = csv.writer(open_("truth.csv"), lineterminator="\n")
        self.truth.writerow(TRUTH_COLUMNS)
        self.rejects = csv.writer(open_("planted_rejects.csv"), lineterminator="\n")
        self.rejects.writerow(PLANTED_REJECT_COLUMNS)
        self.n_rejects = 0
        self.n_person_records = 0

    def write_line(self, agency: str, text: str) -> int:
        self.handles[agency].write(text + "\n")
        self.lines[agency] += 1
        return self.lines[agency]


def generate_extracts(
    people: int,
    seed: int,
    out: Path,
    *,
    as_of: dt.date = AS_OF,
    plant_rejects: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> GenerationSummary:
    """Write the synthetic extracts for ``people`` true people into ``out`` (created)."""
    if people < 0:
        raise ValueError("people must be >= 0")
    out.mkdir(parents=True, exist_ok=True)
    (out / "agencies.json").write_text(json.dumps(list(AGENCIES), indent=2) + "\n",
                                       encoding="utf-8")
    gen = _Generator(seed, as_of)
    gen.plant_rejects = plant_rejects
    done = 0
    with ExitStack() as stack:
        o = _Out(stack, out)
        while done < people:
            hh = gen.household(people - done)
            gen.allocate(hh)
            for agency in FILES:
                for p in hh.members:
                    if agency not in p.ids:
                        continue
                    v = gen.view(p, hh, agency)
                    kind = p.planted.get(agency)
                    planted_field = reason = ""
                    if agency in ("SC", "POL"):
                        text = gen.person_json(p, hh, agency, v)
                        if kind is not None:
                            text, planted_field, reason = _plant_json(text, kind, p)
                        line = o.write_line(agency, text)
                    elif agency == "HEA":
                        res = gen.person_fhir(p, agency, v)
                        if kind is not None:
                            res, planted_field, reason = _plant_fhir(res, kind, p)
                        line = o.write_line(agency, json.dumps(
                            res, ensure_ascii=False, separators=(",", ":")))
                    else:
                        row = gen.person_csv(p, agency, v)
                        if kind is not None:
                            row, planted_field, reason = _plant_csv(row, kind, p)
                        o.edu_csv.writerow(row)
                        o.lines[agency] += 1
                        line = o.lines[agency]
                    notes = v.notes
                    if kind is not None:
                        notes = [*notes, "planted_reject"]
                        o.rejects.writerow([FILES[agency], line, planted_field, reason])
                        o.n_rejects += 1
                    o.truth.writerow([agency, SOURCE_SYSTEMS[agency], p.ids[agency], p.key,
                                      1 if kind is not None else 0, ";".join(notes)])
                    o.n_person_records += 1
                if agency in ("SC", "POL") and (hh.sc if agency == "SC" else hh.pol):
                    for record in gen.cases(hh, agency):
                        o.write_line(agency, record.model_dump_json())
            done += len(hh.members)
            if on_progress is not None:
                on_progress(len(hh.members))
        files = {FILES[a]: n - (1 if a == "EDU" else 0) for a, n in o.lines.items()}
        n_rejects, n_person = o.n_rejects, o.n_person_records
    manifest = {
        "seed": seed,
        "people": people,
        "as_of": as_of.isoformat(),
        "files": [{"agency": a, "path": FILES[a], "format": FORMATS[a],
                   "source_system": SOURCE_SYSTEMS[a], "records": files[FILES[a]]}
                  for a in FILES],
        "truth": "truth.csv",
        "planted_rejects": "planted_rejects.csv",
        "person_records": n_person,
        "planted_reject_rows": n_rejects,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return GenerationSummary(people=people, seed=seed, out=out, files=files,
                             person_records=n_person, planted_rejects=n_rejects)
