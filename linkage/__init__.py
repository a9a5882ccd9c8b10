"""Record linkage: features, comparisons, Fellegi-Sunter scoring, clustering and decisions.

Public surface (everything else is internal):

* ``features_from_source(doc_source)`` / ``features_from_query(...)`` -> ``RecordFeatures``
* ``compare(a, b, params=None)`` -> ``PairScore`` (weight, probability, grade, explanation)
* ``ModelParams``, ``default_params()``, ``load_params(data_dir)``
* ``COMPARISONS``: the comparison levels, declared as data
"""

from linkage.comparisons import COMPARISONS, Comparison, ComparisonLevel
from linkage.features import (
    OtherName,
    RecordFeatures,
    features_from_query,
    features_from_source,
)
from linkage.model import (
    GRADE_THRESHOLDS,
    FieldComparison,
    Grade,
    ModelParams,
    PairScore,
    compare,
    default_params,
    grade_for,
    load_params,
)
from linkage.safety import identifier_conflict, possible_twins

__all__ = [
    "COMPARISONS",
    "GRADE_THRESHOLDS",
    "Comparison",
    "ComparisonLevel",
    "FieldComparison",
    "Grade",
    "ModelParams",
    "OtherName",
    "PairScore",
    "RecordFeatures",
    "compare",
    "default_params",
    "features_from_query",
    "features_from_source",
    "grade_for",
    "identifier_conflict",
    "load_params",
    "possible_twins",
]
