"""Normalisation and keys for names, dates of birth, postcodes and identifiers.

Pure functions, no services. Search (indexing and querying) and linkage (comparison) both
import from here, so a name, date, postcode or identifier is never normalised two ways.
"""

from analyzers.dates import (
    DobRelation,
    PartialDate,
    Precision,
    date_keys,
    days_between,
    dob_relation,
    is_placeholder_dob,
    parse_date,
)
from analyzers.identifiers import (
    IdentifierType,
    ValidatedIdentifier,
    validate_identifier,
)
from analyzers.names import (
    MAX_GROUP_SIZE,
    ParsedGiven,
    are_variants,
    parse_given_name,
    phonetic_keys,
    synonym_lines,
    variant_groups,
    variants,
)
from analyzers.postcodes import (
    PartialPostcode,
    PostcodeLevel,
    normalise_postcode,
    parse_partial_postcode,
    postcode_keys,
)
from analyzers.text import compact_name, fold, name_tokens, normalise_name

__all__ = [
    "MAX_GROUP_SIZE",
    "DobRelation",
    "IdentifierType",
    "ParsedGiven",
    "PartialDate",
    "PartialPostcode",
    "PostcodeLevel",
    "Precision",
    "ValidatedIdentifier",
    "are_variants",
    "compact_name",
    "date_keys",
    "days_between",
    "dob_relation",
    "fold",
    "is_placeholder_dob",
    "name_tokens",
    "normalise_name",
    "normalise_postcode",
    "parse_date",
    "parse_given_name",
    "parse_partial_postcode",
    "phonetic_keys",
    "postcode_keys",
    "synonym_lines",
    "validate_identifier",
    "variant_groups",
    "variants",
]
