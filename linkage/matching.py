"""Matching one incoming person record against the index (``/v1/match``, FHIR ``$match``).

Retrieval is the same query linkage uses, with the caller's access filters inside it; every
candidate is scored by ``compare``; results are best first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from linkage.features import RecordFeatures, features_from_source
from linkage.incremental import _criteria_query
from linkage.model import ModelParams, PairScore, compare

__all__ = ["MatchCandidate", "features_from_record", "match_record"]


@dataclass(frozen=True)
class MatchCandidate:
    source: dict[str, Any]
    features: RecordFeatures
    score: PairScore


def features_from_record(record: Mapping[str, Any]) -> RecordFeatures:
    """Features of a person record given in the wire shape (given_names, family_name, names,
    date_of_birth + dob_precision, gender, identifiers [{type, value}], addresses
    [{lines, postcode, uprn}]). Identifiers are validated like ingested ones."""
    from analyzers.identifiers import validate_identifier

    dob = record.get("date_of_birth")
    precision = record.get("dob_precision") or ("day" if dob else "unknown")
    identifiers = []
    for ident in record.get("identifiers") or []:
        checked = validate_identifier(ident["type"], ident.get("value"))
        if checked.value_normalised:
            identifiers.append({"type": str(checked.type), "value": checked.value_normalised,
                                "valid": checked.valid})
    postcodes: list[str] = []
    address_text: list[str] = []
    uprns: list[str] = []
    for address in record.get("addresses") or []:
        if address.get("postcode"):
            postcodes.append(str(address["postcode"]))
        lines = [str(x) for x in address.get("lines") or [] if x]
        if lines:
            address_text.append(", ".join(lines))
        if address.get("uprn"):
            uprns.append(str(address["uprn"]))
    source = {
        "given_names": record.get("given_names"),
        "family_name": record.get("family_name"),
        "names": [dict(n) for n in record.get("names") or []],
        "dob": str(dob) if dob else None,
        "dob_precision": precision,
        "dob_estimated": bool(record.get("dob_estimated")),
        "gender": record.get("gender"),
        "postcodes": postcodes,
        "address_text": address_text,
        "uprns": uprns,
        "identifiers": identifiers,
    }
    return features_from_source(source)


def match_record(client: Any, alias: str, query: RecordFeatures,
                 filters: Sequence[Mapping[str, Any]], params: ModelParams, *,
                 size: int = 50) -> list[MatchCandidate]:
    """Candidates for one record, scored, best first. ``filters`` are the caller's access
    filters (``search_api.access.policy.opensearch_filter``): applied inside the query."""
    body = _criteria_query(query, size)
    body["query"]["bool"].setdefault("filter", [])
    body["query"]["bool"]["filter"] = [*body["query"]["bool"]["filter"], *filters]
    response = client.search(index=alias, body=body)
    out: list[MatchCandidate] = []
    for hit in response.get("hits", {}).get("hits", []):
        src = hit.get("_source") or {}
        feats = features_from_source(src)
        out.append(MatchCandidate(dict(src), feats, compare(query, feats, params)))
    out.sort(key=lambda c: -c.score.match_weight)
    return out
