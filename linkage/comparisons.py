"""Comparisons declared as data (Splink style): each field has ordered levels, strongest first.

A level is a label, a test and default m/u probabilities. ``Comparison.level_for(a, b)``
returns the first level whose test passes, with the plain-English reason that test produced,
e.g. "surname sounds the same: Smyth / Smith". The first level of every comparison is the null
level: a field missing on either side contributes weight 0.

Levels may carry weight bounds that training cannot move them past: a shared *invalid*
identifier is never strong evidence, and two different valid NHS numbers are always strong
evidence against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from nicknames import NickNamer
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein
from rapidfuzz.process import cdist

from analyzers.dates import dob_relation
from analyzers.names import load_curated_groups, variants
from linkage.features import (
    LOCAL_IDENTIFIER_TYPES,
    RecordFeatures,
    dob_from_key,
    name_keys,
)

__all__ = [
    "COMPARISONS",
    "COMPARISON_BY_FIELD",
    "LOCATION",
    "MISTYPED_POSTCODE_LEVELS",
    "SHARED_POSTCODE_LEVELS",
    "Comparison",
    "ComparisonLevel",
    "LevelTest",
    "address_similarity",
    "dob_relation_of_keys",
    "jaro_winkler",
    "lines_similarity",
    "postcodes_one_apart",
    "variant_reason",
]

LevelTest = Callable[[RecordFeatures, RecordFeatures], "str | None"]
TfKey = Callable[[RecordFeatures], "str | None"]

JW_HIGH = 0.92
JW_MID = 0.80
ADDRESS_HIGH = 90.0
ADDRESS_MID = 70.0
ADDRESS_LOW = 50.0


@dataclass(frozen=True, slots=True)
class ComparisonLevel:
    """One level of a comparison.

    test returns the reason (plain English) when the pair is at this level, else None.
    m, u: default probabilities of this level among matches / non-matches (used before
    training). min_weight / max_weight bound the weight whatever training finds.
    tf_key: the value whose term frequency adjusts this level (common names weaker).
    """

    label: str
    description: str
    test: LevelTest
    m: float
    u: float
    is_null: bool = False
    min_weight: float | None = None
    max_weight: float | None = None
    tf_key: TfKey | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    field: str
    description: str
    levels: tuple[ComparisonLevel, ...]

    def level_for(self, a: RecordFeatures, b: RecordFeatures) -> tuple[int, str]:
        """Index of the first level that applies, and its reason."""
        for i, level in enumerate(self.levels):
            reason = level.test(a, b)
            if reason is not None:
                return i, reason
        raise AssertionError(f"comparison {self.field}: no level applied")  # last is a catch-all

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(level.label for level in self.levels)

    def index(self, label: str) -> int:
        return self.labels.index(label)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=262144)
def jaro_winkler(a: str, b: str) -> float:
    return float(JaroWinkler.similarity(a, b))


def _t(name: str | None) -> str:
    return (name or "").title()


@lru_cache(maxsize=1)
def _curated_index() -> dict[str, frozenset[str]]:
    return {name: group for group in load_curated_groups() for name in group}


@lru_cache(maxsize=1)
def _nicknamer() -> NickNamer:
    return NickNamer()


def variant_reason(a: str, b: str) -> str:
    """"known as Bob (nickname of Robert)" or "Mohammed / Muhammad: spellings of one name"."""
    group = _curated_index().get(a)
    if group is not None and b in group:
        return f"{_t(a)} / {_t(b)}: other spellings of the same name"
    nn = _nicknamer()
    long_, short = sorted((a, b), key=lambda s: (-len(s), s))
    for full, nick in ((long_, short), (short, long_)):
        if nick in nn.nicknames_of(full):
            return f"known as {_t(nick)} (nickname of {_t(full)})"
    return f"{_t(a)} / {_t(b)}: variants of the same name"


@lru_cache(maxsize=65536)
def _variants(token: str) -> frozenset[str]:
    return frozenset(variants(token))


def are_variants(a: str, b: str) -> bool:
    """analyzers.names.are_variants for tokens already normalised (cached)."""
    return a == b or b in _variants(a)


def _compact(s: str | None) -> str:
    return (s or "").replace(" ", "")


def _null(field: str, attr: str) -> ComparisonLevel:
    def test(a: RecordFeatures, b: RecordFeatures) -> str | None:
        if not getattr(a, attr) or not getattr(b, attr):
            return f"{field} not known on one side"
        return None

    return ComparisonLevel("null", f"{field} missing on either side", test, 1.0, 1.0,
                           is_null=True)


def _else(label: str, description: str, reason: Callable[[RecordFeatures, RecordFeatures], str],
          m: float, u: float, **kw: object) -> ComparisonLevel:
    return ComparisonLevel(label, description, reason, m, u, **kw)  # type: ignore[arg-type]


def _token_pairs(a: Iterable[str], b: Iterable[str]) -> Iterable[tuple[str, str]]:
    bl = list(b)
    for x in a:
        for y in bl:
            yield x, y


# ---------------------------------------------------------------------------------------------
# given name
# ---------------------------------------------------------------------------------------------


def _given_exact(a: RecordFeatures, b: RecordFeatures) -> str | None:
    if a.given_compact == b.given_compact:
        return f"given name the same: {_t(a.given)}"
    return None


def _given_token(a: RecordFeatures, b: RecordFeatures) -> str | None:
    """A shared given name that is the first name of at least one record (a child known by a
    middle name: "Mathew" / "Gareth Mathew")."""
    shared = set(a.given_tokens) & set(b.given_tokens)
    firsts = set(a.given_tokens[:1]) | set(b.given_tokens[:1])
    if shared & firsts:
        return f"one given name the same: {_t(a.given)} / {_t(b.given)}"
    return None


def _given_middle(a: RecordFeatures, b: RecordFeatures) -> str | None:
    """Different first names and a middle name in common: how a father and son, or two
    siblings named after one grandparent, look. Weak; training measures how weak."""
    shared = set(a.given_tokens[1:]) & set(b.given_tokens[1:])
    if shared:
        return f"only a middle name the same ({_t(sorted(shared)[0])}): " \
               f"{_t(a.given)} / {_t(b.given)}"
    return None


def _given_variant(a: RecordFeatures, b: RecordFeatures) -> str | None:
    for x, y in _token_pairs(a.given_tokens, b.given_tokens):
        if x != y and are_variants(x, y):
            return variant_reason(x, y)
    return None


def _other_type(f: RecordFeatures, given: str | None = None, family: str | None = None) -> str:
    for other in f.other_names:
        if (given and other.given == given) or (family and other.family == family):
            return other.type
    return "other"


def _name_in(f: RecordFeatures, name: str) -> str:
    for other in f.other_names:
        if other.given == name or other.family == name:
            return other.type
    return "current"


def _given_alias(a: RecordFeatures, b: RecordFeatures) -> str | None:
    for x, y in _token_pairs(a.all_given, b.all_given):
        if x == a.given and y == b.given:
            continue
        if x == y or are_variants(x, y):
            kind = _name_in(a, x) if x != a.given else _name_in(b, y)
            return f"given name matches a{'n' if kind[0] in 'aeiou' else ''} {kind} name: " \
                   f"{_t(x)} / {_t(y)}"
    return None


def _given_jw(threshold: float, words: str) -> LevelTest:
    def test(a: RecordFeatures, b: RecordFeatures) -> str | None:
        ga, gb = a.given_compact, b.given_compact
        if jaro_winkler(ga, gb) >= threshold or (
            jaro_winkler(a.given_first, b.given_first) >= threshold
        ):
            return f"given names {words}: {_t(a.given)} / {_t(b.given)}"
        return None

    return test


def _given_phonetic(a: RecordFeatures, b: RecordFeatures) -> str | None:
    fa, fb = a.given_first, b.given_first
    if fa and fb and name_keys(fa) & name_keys(fb):
        return f"given name sounds the same: {_t(fa)} / {_t(fb)}"
    return None


def _given_initial(a: RecordFeatures, b: RecordFeatures) -> str | None:
    fa, fb = a.given_first, b.given_first
    short, long_ = sorted((fa, fb), key=len)
    if len(short) == 1 and long_.startswith(short):
        return f"initial {short.upper()} fits {_t(long_)}"
    return None


def names_swapped(a: RecordFeatures, b: RecordFeatures) -> bool:
    """Given and family names transposed between the records (typos tolerated: one half
    spelt almost the same, the other at least similar)."""
    if not (a.given and a.family and b.given and b.family):
        return False
    ag, af, bg, bf = a.given_compact, a.family_compact, b.given_compact, b.family_compact
    if ag == bg and af == bf:
        return False
    one, other = sorted((jaro_winkler(ag, bf), jaro_winkler(af, bg)), reverse=True)
    return one >= JW_HIGH and other >= JW_MID


def _crossed(a: RecordFeatures, b: RecordFeatures) -> str | None:
    """One record's given name is the other's surname (the fields filled the wrong way round
    on one side, the other name lost or changed)."""
    for x, y in ((a, b), (b, a)):
        if x.given and y.family and jaro_winkler(x.given_compact, y.family_compact) >= JW_HIGH:
            return f"given name {_t(x.given)} appears as the other record's surname " \
                   f"{_t(y.family)}"
    return None


def _swapped(what: str) -> LevelTest:
    def test(a: RecordFeatures, b: RecordFeatures) -> str | None:
        if names_swapped(a, b):
            return f"{what} appears as the other record's " \
                   f"{'family' if what == 'given name' else 'given'} name: " \
                   f"{_t(a.given)} {_t(a.family)} / {_t(b.given)} {_t(b.family)}"
        return None

    return test


def _given_tf(f: RecordFeatures) -> str | None:
    return f.given_compact or None


GIVEN = Comparison(
    "given_name",
    "given (first and middle) names",
    (
        _null("given name", "given"),
        ComparisonLevel("exact", "same given name", _given_exact, 0.80, 0.01, tf_key=_given_tf),
        ComparisonLevel("token", "one given name in common", _given_token, 0.04, 0.004),
        ComparisonLevel("variant", "nickname or transliteration", _given_variant, 0.05, 0.003),
        ComparisonLevel("alias", "matches an alias or former name", _given_alias, 0.02, 0.002),
        ComparisonLevel("jw_high", "spelt almost the same", _given_jw(JW_HIGH, "spelt almost "
                        "the same"), 0.04, 0.004),
        ComparisonLevel("swapped", "given and family names swapped", _swapped("given name"),
                        0.01, 0.0001),
        ComparisonLevel("phonetic", "sounds the same", _given_phonetic, 0.02, 0.006),
        ComparisonLevel("initial", "an initial that fits", _given_initial, 0.005, 0.01),
        ComparisonLevel("jw_mid", "similar spelling", _given_jw(JW_MID, "similar"), 0.01, 0.03),
        ComparisonLevel("middle_only", "different first names, a middle name in common",
                        _given_middle, 0.005, 0.002),
        ComparisonLevel("crossed", "given name found as the other record's surname", _crossed,
                        0.005, 0.001),
        _else("different", "different given names",
              lambda a, b: f"given names differ: {_t(a.given)} / {_t(b.given)}", 0.015, 0.933,
              max_weight=-3.0),
    ),
)


# ---------------------------------------------------------------------------------------------
# family name
# ---------------------------------------------------------------------------------------------


def _family_exact(a: RecordFeatures, b: RecordFeatures) -> str | None:
    if a.family_compact == b.family_compact:
        return f"surname the same: {_t(a.family)}"
    return None


def _family_alias(a: RecordFeatures, b: RecordFeatures) -> str | None:
    for x, y in _token_pairs(a.all_family, b.all_family):
        if x == a.family and y == b.family:
            continue
        if _compact(x) == _compact(y):
            kind = _name_in(a, x) if x != a.family else _name_in(b, y)
            return f"surname matches a{'n' if kind[0] in 'aeiou' else ''} {kind} surname: " \
                   f"{_t(x)}"
    return None


def _family_part(a: RecordFeatures, b: RecordFeatures) -> str | None:
    if len(a.family_tokens) < 2 and len(b.family_tokens) < 2:
        return None
    shared = set(a.family_tokens) & set(b.family_tokens)
    if shared:
        return f"part of a double-barrelled surname matches: {_t(a.family)} / {_t(b.family)}"
    return None


def _family_jw(threshold: float, words: str) -> LevelTest:
    def test(a: RecordFeatures, b: RecordFeatures) -> str | None:
        if jaro_winkler(a.family_compact, b.family_compact) >= threshold:
            return f"surnames {words}: {_t(a.family)} / {_t(b.family)}"
        return None

    return test


def _family_phonetic(a: RecordFeatures, b: RecordFeatures) -> str | None:
    ca, cb = a.family_compact, b.family_compact
    if name_keys(ca) & name_keys(cb):
        return f"surname sounds the same: {_t(a.family)} / {_t(b.family)}"
    return None


def _family_tf(f: RecordFeatures) -> str | None:
    return f.family_compact or None


FAMILY = Comparison(
    "family_name",
    "family name (surname)",
    (
        _null("surname", "family"),
        ComparisonLevel("exact", "same surname", _family_exact, 0.83, 0.005, tf_key=_family_tf),
        ComparisonLevel("alias", "matches a former, maiden or alias surname", _family_alias,
                        0.03, 0.001),
        ComparisonLevel("part", "one part of a hyphenated surname matches", _family_part,
                        0.03, 0.001),
        ComparisonLevel("jw_high", "spelt almost the same",
                        _family_jw(JW_HIGH, "spelt almost the same"), 0.04, 0.003),
        # Counted once, on the given name: the two halves of a swap are one piece of evidence.
        ComparisonLevel("swapped", "given and family names swapped", _swapped("surname"),
                        1.0, 1.0, is_null=True),
        ComparisonLevel("phonetic", "sounds the same", _family_phonetic, 0.02, 0.004),
        ComparisonLevel("jw_mid", "similar spelling", _family_jw(JW_MID, "similar"), 0.01, 0.02),
        _else("different", "different surnames",
              lambda a, b: f"surnames differ: {_t(a.family)} / {_t(b.family)}", 0.04, 0.967),
    ),
)


# ---------------------------------------------------------------------------------------------
# date of birth
# ---------------------------------------------------------------------------------------------


def _dob_is(relation: str, text: str, *, placeholder: bool | None = None,
            estimated: bool | None = None) -> LevelTest:
    def test(a: RecordFeatures, b: RecordFeatures) -> str | None:
        assert a.dob is not None and b.dob is not None
        if _relation(a, b) != relation:
            return None
        if placeholder is not None and placeholder != (a.dob_placeholder or b.dob_placeholder):
            return None
        if estimated is not None and estimated != (a.dob_estimated or b.dob_estimated):
            return None
        return text.format(a=a.dob, b=b.dob)

    return test


@lru_cache(maxsize=131072)
def dob_relation_of_keys(a: int, b: int) -> str:
    """``dob_relation`` of two ``features.dob_key`` values, cached: it is asked once per date
    level of every pair."""
    return dob_relation(dob_from_key(a), dob_from_key(b))


def _dob_transposed(a: RecordFeatures, b: RecordFeatures) -> str | None:
    assert a.dob_key is not None and b.dob_key is not None
    if _transposed_keys(a.dob_key, b.dob_key):
        return f"date of birth has two digits transposed: {a.dob} / {b.dob}"
    return None


@lru_cache(maxsize=131072)
def _transposed_keys(a: int, b: int) -> bool:
    da, db = dob_from_key(a), dob_from_key(b)
    if da.precision != "day" or db.precision != "day" or da == db:
        return False
    # Typed as 21/11/1962 or as 1962-11-21: a transposition can cross the day/month boundary
    # in either form.
    for form in ("{d.day:02d}{d.month:02d}{d.year:04d}", "{d.year:04d}{d.month:02d}{d.day:02d}"):
        if OSA.distance(form.format(d=da), form.format(d=db)) == 1:
            return True
    return False


def _relation(a: RecordFeatures, b: RecordFeatures) -> str:
    assert a.dob_key is not None and b.dob_key is not None
    return dob_relation_of_keys(a.dob_key, b.dob_key)


DOB = Comparison(
    "date_of_birth",
    "date of birth",
    (
        _null("date of birth", "dob"),
        ComparisonLevel("exact", "same date of birth",
                        _dob_is("exact", "same date of birth: {a}", placeholder=False),
                        0.85, 0.0005),
        ComparisonLevel("exact_placeholder", "same date, but a common placeholder date",
                        _dob_is("exact", "same date of birth {a}, but 1 January / the 15th is "
                                "often recorded when the real date is not known"),
                        0.02, 0.002),
        ComparisonLevel("swapped", "day and month swapped",
                        _dob_is("swapped", "date of birth has day and month swapped: {a} / {b}"),
                        0.02, 0.0005),
        ComparisonLevel("one_digit_off", "one digit different (a typing error)",
                        _dob_is("one_digit_off", "date of birth differs by one digit: {a} / {b}"),
                        0.04, 0.004),
        ComparisonLevel("transposed", "two adjacent digits swapped", _dob_transposed,
                        0.02, 0.001),
        ComparisonLevel("same_year_month", "same year and month",
                        _dob_is("same_year_month", "date of birth in the same month: {a} / {b}"),
                        0.02, 0.01),
        ComparisonLevel("same_year", "same year",
                        _dob_is("same_year", "date of birth in the same year: {a} / {b}"),
                        0.02, 0.05),
        ComparisonLevel("estimated_range", "an estimated date within a year",
                        _dob_is("within_range", "date of birth is estimated and within a year: "
                                "{a} / {b}", estimated=True),
                        0.01, 0.05),
        _else("different", "different dates of birth",
              lambda a, b: f"dates of birth differ: {a.dob} / {b.dob}", 0.02, 0.8835,
              max_weight=-4.0),
    ),
)


# ---------------------------------------------------------------------------------------------
# gender
# ---------------------------------------------------------------------------------------------


def _gender_same(a: RecordFeatures, b: RecordFeatures) -> str | None:
    return f"same gender: {a.gender}" if a.gender == b.gender else None


def _gender_null(a: RecordFeatures, b: RecordFeatures) -> str | None:
    known = {"female", "male"}
    if a.gender not in known or b.gender not in known:
        if a.gender and b.gender and a.gender == b.gender:
            return None
        return "gender not known on one side"
    return None


GENDER = Comparison(
    "gender",
    "gender",
    (
        ComparisonLevel("null", "gender missing or not recorded", _gender_null, 1.0, 1.0,
                        is_null=True),
        ComparisonLevel("same", "same gender", _gender_same, 0.97, 0.5),
        _else("different", "different gender",
              lambda a, b: f"different gender: {a.gender} / {b.gender}", 0.03, 0.5,
              max_weight=-2.0),
    ),
)


# ---------------------------------------------------------------------------------------------
# postcode, address, UPRN
# ---------------------------------------------------------------------------------------------


def _shared(attr: str, text: str) -> LevelTest:
    def test(a: RecordFeatures, b: RecordFeatures) -> str | None:
        common = set(getattr(a, attr)) & set(getattr(b, attr))
        if common:
            return text.format(sorted(common)[0])
        return None

    return test


def _postcode_typo(a: RecordFeatures, b: RecordFeatures) -> str | None:
    hit = postcodes_one_apart(a.postcodes, b.postcodes)
    return None if hit is None else f"postcodes differ by one character: {hit[0]} / {hit[1]}"


@lru_cache(maxsize=131072)
def postcodes_one_apart(xs: tuple[str, ...], ys: tuple[str, ...]) -> tuple[str, str] | None:
    """The first pair of postcodes one edit apart. Cached: four address levels ask it of the
    same pair, and records with an address history hold several postcodes each."""
    for x in xs:
        for y in ys:
            if OSA.distance(x, y) == 1:
                return x, y
    return None


@lru_cache(maxsize=131072)
def address_similarity(a: str, b: str) -> float:
    """0-100: the better of the token-set ratio and a typo-tolerant token overlap (tokens
    paired when Jaro-Winkler >= 0.9: "red hills wallsend" ~ "red hils wallsgend")."""
    return max(float(fuzz.token_set_ratio(a, b)), _soft_overlap(a, b))


@lru_cache(maxsize=131072)
def lines_similarity(a: str, b: str) -> float:
    """``address_similarity`` for the address comparison, except that a house number alone
    is not a shared address: when the only words the two have in common are numbers ("17" /
    "17 leonard close madora"), the token-set ratio, which scores a subset 100, gives way to
    the ratio of the sorted words. (The twins flag keeps ``address_similarity``: there a
    looser "same home" is the safe side.)"""
    common = set(a.split()) & set(b.split())
    if common and all(w.isdigit() for w in common):
        return max(float(fuzz.token_sort_ratio(a, b)), _soft_overlap(a, b))
    return address_similarity(a, b)


def _soft_overlap(a: str, b: str) -> float:
    ta, tb = a.split(), b.split()
    if not ta or not tb:
        return 0.0
    # Token similarities in one C call; tokens of one or two letters only match exactly.
    matrix = cdist(ta, tb, scorer=JaroWinkler.similarity, score_cutoff=0.9)
    if matrix.max() < 0.9:
        return 0.0
    free = [True] * len(tb)
    matched = 0
    for x, row in zip(ta, matrix.tolist(), strict=True):
        best, best_i = 0.0, -1
        for i, sim in enumerate(row):
            if not free[i]:
                continue
            if sim < 1.0 and (len(x) <= 2 or len(tb[i]) <= 2):
                sim = 0.0
            if sim > best:
                best, best_i = sim, i
        if best >= 0.9:
            matched += 1
            free[best_i] = False
    return 200.0 * matched / (len(ta) + len(tb))


def _street_same(a: RecordFeatures, b: RecordFeatures) -> str | None:
    common = set(a.streets) & set(b.streets)
    return f"same street address: {sorted(common)[0].title()}" if common else None


def _number(street: str) -> str | None:
    first = street.split(" ", 1)[0]
    return first if first[:1].isdigit() else None


def _street_similar(threshold: float, text: str) -> LevelTest:
    """The same house number and street names spelt almost the same. The names are compared
    without the number: with it, the shared prefix ("18 l") earned Jaro-Winkler's prefix
    bonus, and "18 leahy close" / "18 blakey close" passed as one street."""
    def test(a: RecordFeatures, b: RecordFeatures) -> str | None:
        for x, y in _token_pairs(a.streets, b.streets):
            number = _number(x)
            if number is None or number != _number(y):
                continue
            name_x, name_y = x[len(number):].strip(), y[len(number):].strip()
            if name_x and name_y and jaro_winkler(name_x, name_y) >= threshold:
                return text.format(x.title(), y.title())
        return None

    return test


def _location_null(a: RecordFeatures, b: RecordFeatures) -> str | None:
    def has(f: RecordFeatures) -> bool:
        return bool(f.uprns or f.postcode_outwards or f.address_text or f.streets)

    return None if has(a) and has(b) else "address missing on one side"


def _address_text(threshold: float, text: str, exact: bool = False) -> LevelTest:
    def test(a: RecordFeatures, b: RecordFeatures) -> str | None:
        if not a.address_text or not b.address_text:
            return None
        if exact:
            return text if a.address_text == b.address_text else None
        score = lines_similarity(a.address_text, b.address_text)
        return text.format(score=round(score)) if score >= threshold else None

    return test


def _first_of(*tests: LevelTest) -> LevelTest:
    def test(a: RecordFeatures, b: RecordFeatures) -> str | None:
        for t in tests:
            reason = t(a, b)
            if reason is not None:
                return reason
        return None

    return test


def _and_postcode(test: LevelTest, *, typo: bool = False) -> LevelTest:
    """The address test, and the same postcode on both sides (typo=True: postcodes one
    character apart)."""
    def joint(a: RecordFeatures, b: RecordFeatures) -> str | None:
        if typo:
            postcode = _postcode_typo(a, b)
        else:
            common = set(a.postcodes) & set(b.postcodes)
            postcode = f"same postcode {sorted(common)[0]}" if common else None
        if postcode is None:
            return None
        reason = test(a, b)
        return None if reason is None else f"{reason}, {postcode}"

    return joint


_SAME_ADDRESS = _first_of(_street_same, _address_text(100, "same address", exact=True))
_ALMOST_SAME_ADDRESS = _first_of(
    _street_similar(JW_HIGH, "street address spelt almost the same: {} / {}"),
    _address_text(ADDRESS_HIGH, "addresses almost the same ({score}%)"))
_SIMILAR_ADDRESS = _address_text(ADDRESS_MID, "addresses similar ({score}%)")

# One comparison for everything about where a person lives. UPRN, street, address lines and
# postcode are not independent evidence: counted separately, one shared home added some 40
# bits and merged parents with their children. Fellegi-Sunter needs one level per field, so
# the combinations that matter are levels of their own ("almost the same lines and the same
# postcode"): training measures how often each combination occurs among non-matches, which
# counts a postcode that only repeats the address lines once, and one that adds to them (as
# in data whose fields are independently mistyped) as much as it really adds.
# The joint levels carry no weight bound: their u is measured among the pairs with that
# postcode relation (training.reestimate_u), where half a pair of pseudo-count among all of
# them is the most a level no non-match reaches can claim: ~24 bits on FEBRL4, where no two
# people share a home; ~10 on the synthetic data, where households do. A fixed 20-bit bound
# had stopped FEBRL's addresses short.
LOCATION = Comparison(
    "address",
    "home address: property reference, address lines and postcode, as one piece of evidence",
    (
        ComparisonLevel("null", "address missing on one side", _location_null, 1.0, 1.0,
                        is_null=True),
        ComparisonLevel("same_property", "same property (UPRN)",
                        _shared("uprns", "same property reference (UPRN {})"), 0.35, 0.0005,
                        max_weight=13.0),
        ComparisonLevel("same_address_postcode", "same address and postcode",
                        _and_postcode(_SAME_ADDRESS), 0.25, 0.0005),
        ComparisonLevel("same_address_postcode_typo", "same address, postcode mistyped",
                        _and_postcode(_SAME_ADDRESS, typo=True), 0.02, 0.0005),
        ComparisonLevel("almost_same_address_postcode",
                        "address spelt almost the same, same postcode",
                        _and_postcode(_ALMOST_SAME_ADDRESS), 0.06, 0.0008),
        ComparisonLevel("almost_same_address_postcode_typo",
                        "address spelt almost the same, postcode mistyped",
                        _and_postcode(_ALMOST_SAME_ADDRESS, typo=True), 0.01, 0.0008),
        ComparisonLevel("same_address", "same address", _SAME_ADDRESS, 0.05, 0.0008,
                        max_weight=13.0),
        ComparisonLevel("similar_address_postcode", "similar address, same postcode",
                        _and_postcode(_SIMILAR_ADDRESS), 0.03, 0.0015),
        ComparisonLevel("almost_same_address", "address spelt almost the same",
                        _ALMOST_SAME_ADDRESS, 0.04, 0.001, max_weight=12.0),
        ComparisonLevel("similar_address_postcode_typo", "similar address, postcode mistyped",
                        _and_postcode(_SIMILAR_ADDRESS, typo=True), 0.01, 0.001),
        ComparisonLevel("same_postcode", "same postcode",
                        _shared("postcodes", "same postcode: {}"), 0.05, 0.002),
        ComparisonLevel("postcode_typo", "postcodes one character apart", _postcode_typo,
                        0.02, 0.002),
        ComparisonLevel("similar_address", "similar address", _SIMILAR_ADDRESS, 0.03, 0.02),
        ComparisonLevel("sector", "same postcode sector (a few thousand addresses)",
                        _shared("postcode_sectors", "same postcode sector: {}"), 0.05, 0.01),
        ComparisonLevel("outward", "same postcode district",
                        _shared("postcode_outwards", "same postcode district: {}"), 0.05, 0.05),
        _else("different", "different addresses", lambda a, b: "addresses differ", 0.32, 0.914),
    ),
)
# The levels that need a shared or a mistyped postcode: training measures their u among
# pairs with that postcode relation.
SHARED_POSTCODE_LEVELS = ("same_address_postcode", "almost_same_address_postcode",
                          "similar_address_postcode", "same_postcode")
MISTYPED_POSTCODE_LEVELS = ("same_address_postcode_typo", "almost_same_address_postcode_typo",
                            "similar_address_postcode_typo", "postcode_typo")


# ---------------------------------------------------------------------------------------------
# identifiers
# ---------------------------------------------------------------------------------------------

_ID_NAMES = {
    "nhs_number": "NHS number",
    "upn": "UPN",
    "former_upn": "former UPN",
    "ni_number": "NI number",
    "local_child_id": "local child id",
    "police_id": "police id",
    "case_number": "case number",
    "other": "reference",
}


def _id_name(t: str) -> str:
    return _ID_NAMES.get(t, t.replace("_", " "))


def _comparable(t: str, a: RecordFeatures, b: RecordFeatures) -> bool:
    """Can two values of type t be compared? Local references only within one agency."""
    if t in LOCAL_IDENTIFIER_TYPES:
        return a.agency is not None and a.agency == b.agency
    return True


def _id_null(a: RecordFeatures, b: RecordFeatures) -> str | None:
    ta = {t for t, _ in (*a.identifiers, *a.invalid_identifiers)}
    tb = {t for t, _ in (*b.identifiers, *b.invalid_identifiers)}
    if any(_comparable(t, a, b) for t in ta & tb):
        return None
    return "no identifier of the same kind on both sides"


def _id_conflict(a: RecordFeatures, b: RecordFeatures) -> str | None:
    va, vb = a.identifiers_by_type(), b.identifiers_by_type()
    for t in ("nhs_number",):
        if t in va and t in vb and not (va[t] & vb[t]):
            return f"different valid {_id_name(t)}s"
    return None


def _id_shared_valid(a: RecordFeatures, b: RecordFeatures) -> str | None:
    common = set(a.identifiers) & set(b.identifiers)
    for t, _ in sorted(common):
        if _comparable(t, a, b):
            return f"same {_id_name(t)}"
    return None


def _all_ids(f: RecordFeatures) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for t, v in (*f.identifiers, *f.invalid_identifiers):
        out.setdefault(t, set()).add(v)
    return out


def _id_one_edit(a: RecordFeatures, b: RecordFeatures) -> str | None:
    ia, ib = _all_ids(a), _all_ids(b)
    for t in sorted(set(ia) & set(ib)):
        if not _comparable(t, a, b):
            continue
        for x, y in _token_pairs(sorted(ia[t]), sorted(ib[t])):
            if x != y and len(x) > 3 and (Levenshtein.distance(x, y) <= 1 or (
                len(x) == len(y) and sorted(x) == sorted(y)
                and sum(p != q for p, q in zip(x, y, strict=True)) == 2
            )):
                return f"{_id_name(t)}s differ by one character (a typing error?)"
    return None


def _id_shared_invalid(a: RecordFeatures, b: RecordFeatures) -> str | None:
    common = set(a.invalid_identifiers) & set(b.invalid_identifiers)
    common |= set(a.invalid_identifiers) & set(b.identifiers)
    common |= set(a.identifiers) & set(b.invalid_identifiers)
    for t, _ in sorted(common):
        if _comparable(t, a, b):
            return f"same {_id_name(t)}, but it is not a valid one (weak evidence only)"
    return None


def _id_different(a: RecordFeatures, b: RecordFeatures) -> str | None:
    va, vb = a.identifiers_by_type(), b.identifiers_by_type()
    for t in sorted(set(va) & set(vb)):
        if _comparable(t, a, b) and not (va[t] & vb[t]):
            return f"different {_id_name(t)}s"
    return None


IDENTIFIERS = Comparison(
    "identifiers",
    "NHS number, UPN, NI number and agency references",
    (
        ComparisonLevel("null", "no identifier of the same kind on both sides", _id_null,
                        1.0, 1.0, is_null=True),
        ComparisonLevel("conflict", "two different valid NHS numbers", _id_conflict,
                        0.0005, 0.3, max_weight=-10.0),
        ComparisonLevel("shared_valid", "a shared valid identifier", _id_shared_valid,
                        0.9, 0.00001, min_weight=8.0),
        ComparisonLevel("one_edit", "identifiers one character apart", _id_one_edit,
                        0.05, 0.001),
        ComparisonLevel("shared_invalid", "a shared identifier that is not valid",
                        _id_shared_invalid, 0.02, 0.0005, max_weight=2.0),
        ComparisonLevel("different", "different identifiers of the same kind", _id_different,
                        0.03, 0.7),
        _else("other", "identifiers present but not comparable",
              lambda a, b: "identifiers not comparable", 1.0, 1.0, is_null=True),
    ),
)

COMPARISONS: tuple[Comparison, ...] = (
    GIVEN, FAMILY, DOB, GENDER, LOCATION, IDENTIFIERS,
)
COMPARISON_BY_FIELD = {c.field: c for c in COMPARISONS}
