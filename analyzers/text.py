"""Text folding and name tokenisation: the single definition of "the same name".

Search (index and query side) and linkage both call these functions, so a name typed by a
duty social worker and the same name held by a school or hospital reduce to the same string.

Decisions (documented here because the index analyzer settings must agree with them):

* Diacritics are stripped from Latin letters only (Wiśniewski -> wisniewski, Ștefănescu ->
  stefanescu). Letters that do not decompose in Unicode are mapped explicitly (ł -> l,
  ø -> o, æ -> ae, œ -> oe, đ/ð -> d, þ -> th, ı -> i, ħ -> h); ß becomes ss via casefold.
  Marks on other scripts (Arabic, Devanagari, Cyrillic ...) are kept: stripping them can
  change the letter, and transliteration is out of scope here.
* Apostrophes (any of ' ’ ‘ ʼ ` ´ ′) are deleted, joining the parts: O'Brien -> obrien,
  D'Souza -> dsouza. Records write these names with and without the apostrophe, rarely with
  a space, so joining is the form most likely to agree.
* Hyphens (any Unicode dash) are kept by fold() between two word characters, with spaces
  around them removed ("Smith - Jones" -> "smith-jones"); leading, trailing and repeated
  hyphens are dropped.
* name_tokens() expands a hyphenated token into the joined form AND its parts:
  "Smith-Jones" -> ["smithjones", "smith", "jones"]. The joined form matches a record typed
  "SmithJones"; the parts match a record that kept only one half of a double-barrelled name.
  The hyphenated spelling itself is not emitted: OpenSearch tokenizers split on "-" anyway.
* normalise_name() is the comparison form: tokens of fold() with hyphens turned into spaces
  ("Smith-Jones" -> "smith jones"); compact_name() drops the spaces too ("smithjones").
* Any other punctuation or symbol becomes a word break. Digits are kept ("Twin 1").
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["compact_name", "fold", "name_tokens", "normalise_name"]

# Letters with no Unicode decomposition: NFKD cannot strip them, so map them by hand.
# Applied after casefold and mark stripping, so only bare lower-case forms are needed.
_SPECIAL = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
        "ƚ": "l",
    }
)

_APOSTROPHES = frozenset("'’‘ʼ`´′ʹʻ")
# Hyphen-minus, hyphen, non-breaking hyphen, figure dash, en/em dash, horizontal bar, minus,
# small/full-width hyphen-minus (the last two are already folded by NFKC but harmless).
_HYPHENS = frozenset("-‐‑‒–—―−﹣－")

_HYPHEN_RUNS = re.compile(r"\s*-[\s-]*")


def _is_latin_base(ch: str) -> bool:
    # Latin blocks: Basic Latin .. Latin Extended-B, IPA, Latin Extended Additional / C / D / E.
    o = ord(ch)
    return (
        o < 0x0250
        or 0x1E00 <= o <= 0x1EFF
        or 0x2C60 <= o <= 0x2C7F
        or 0xA720 <= o <= 0xA7FF
        or 0xAB30 <= o <= 0xAB6F
    )


def _strip_latin_marks(s: str) -> str:
    out: list[str] = []
    base_is_latin = False
    for ch in unicodedata.normalize("NFKD", s):
        if unicodedata.combining(ch):
            if base_is_latin:
                continue  # a diacritic on a Latin letter: drop it
            out.append(ch)
        else:
            base_is_latin = _is_latin_base(ch)
            out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


# Names repeat across records, documents and re-scored candidates: folding one costs tens of
# microseconds, so short strings (names, postcodes, address lines) are folded once.
_CACHED_LENGTH = 80
_CACHE_SIZE = 200_000


def fold(s: str) -> str:
    """Fold text for matching: NFKC, casefold, Latin diacritics stripped, punctuation removed.

    Returns lower-case words separated by single spaces; hyphens survive only inside a word.
    """
    if len(s) <= _CACHED_LENGTH:
        return _fold_cached(s)
    return _fold(s)


# The same folding for ASCII text, which most addresses and names are: no normalisation or
# marks to handle, so one translate does it (a property test checks both paths agree).
_ASCII_FOLD: dict[int, str | None] = {
    c: " " for c in range(128) if not chr(c).isalnum() and chr(c) not in "'`-"}
_ASCII_FOLD.update({ord("'"): None, ord("`"): None})


def _fold(s: str) -> str:
    if s.isascii():
        return _words(s.lower().translate(_ASCII_FOLD))
    return _words(_fold_unicode(s))


def _words(text: str) -> str:
    text = _HYPHEN_RUNS.sub("-", text)
    words = (w.strip("-") for w in text.split())
    return " ".join(w for w in words if w)


def _fold_unicode(s: str) -> str:
    """Folded characters of any text, word breaks as spaces (``_words`` tidies them)."""
    # NFKC before and after casefold: casefold output is not always NFKC-normal.
    s = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).casefold())
    # Strip marks first: precomposed letters such as ǽ and ǿ only reach æ / ø once stripped.
    s = _strip_latin_marks(s).translate(_SPECIAL)
    out: list[str] = []
    after_word = False  # is the previous input character a kept letter, digit or mark?
    for ch in s:
        cat = unicodedata.category(ch)
        if cat[0] == "M" and not after_word:
            continue  # a mark whose base was punctuation or a space has nothing to sit on
        after_word = cat[0] in "LNM" and ch not in _APOSTROPHES
        if ch in _APOSTROPHES:
            continue
        if ch in _HYPHENS:
            out.append("-")
        elif after_word:
            out.append(ch)
        else:
            out.append(" ")  # punctuation, symbols, separators, controls: word break
    return "".join(out)


_fold_cached = lru_cache(maxsize=_CACHE_SIZE)(_fold)


def name_tokens(s: str) -> list[str]:
    """Folded name tokens; a hyphenated token yields its joined form, then each part.

    >>> name_tokens("Anna-Maria Smith-Jones")
    ['annamaria', 'anna', 'maria', 'smithjones', 'smith', 'jones']
    """
    if len(s) <= _CACHED_LENGTH:
        return list(_name_tokens_cached(s))  # a copy: callers may change their list
    return list(_name_tokens(s))


def _name_tokens(s: str) -> tuple[str, ...]:
    tokens: list[str] = []
    seen: set[str] = set()
    for word in fold(s).split():
        parts = word.split("-")
        candidates = [word.replace("-", ""), *parts] if len(parts) > 1 else parts
        for tok in candidates:
            if tok and tok not in seen:
                seen.add(tok)
                tokens.append(tok)
    return tuple(tokens)


_name_tokens_cached = lru_cache(maxsize=_CACHE_SIZE)(_name_tokens)


def normalise_name(s: str) -> str:
    """The comparison form of a name: folded, hyphens as spaces. "Smith-Jones" -> "smith jones"."""
    return " ".join(fold(s).replace("-", " ").split())


def compact_name(s: str) -> str:
    """normalise_name() without spaces, for exact keys: "Smith-Jones" -> "smithjones"."""
    return normalise_name(s).replace(" ", "")
