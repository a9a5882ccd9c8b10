"""Linking as records arrive, and the full re-link.

``link_records(settings, record_ids)`` is called by the outbox worker after it indexed the
records. For each record it retrieves candidates from OpenSearch (the search engineer's
retrieval query over ``<prefix>-persons``, all sensitivities: linkage is a system process and
access rules apply only when results are shown), scores them with ``compare`` and applies the
clustering plan in SQL (``linkage.store.apply_edges``). If OpenSearch cannot be reached the
candidates come from SQL (shared identifiers, date of birth, postcode) instead.

``link_full(settings)`` re-links everything with the batch blocking keys: the same scoring and
the same clustering rules; current identities are kept whole and human constraints obeyed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from linkage.blocking import candidate_pairs
from linkage.clustering import ScoredEdge
from linkage.features import RecordFeatures, cached_features_from_source, features_from_source
from linkage.heap import collector_paused, frozen_heap
from linkage.model import (
    ModelParams,
    PairScore,
    compare,
    load_params,
    probability,
    weight_of,
)
from linkage.safety import pair_flags
from linkage.store import LinkConfig, LinkOutcome, apply_edges, load_features
from linkage.threshold_scoring import weights_reaching
from schemas.db import engine_for, session_scope
from schemas.tables import AddressRow, IdentifierRow, OutboxRow, PersonRecordRow

__all__ = ["candidates_from_opensearch", "candidates_from_sql", "features_from_index",
           "full_relink_features", "link_full", "link_records", "score_candidates"]

log = logging.getLogger("casesearch.linkage")

# 20, not 40: on 1.87M indexed records the first other record of the same child is in the
# top 20 as often as in the top 40 (0.9960 of 1,000 sampled records), and every pair costs
# its _source, features and compare() (BENCHMARKS.md, session 5).
CANDIDATES_PER_RECORD = 20
Progress = Callable[[str, int, int], None]


def _criteria_query(f: RecordFeatures, size: int) -> dict[str, Any]:
    """Retrieval query for one record: the search engineer's builder when present."""
    extra: list[dict[str, Any]] = []
    values = [v for _, v in (*f.identifiers, *f.invalid_identifiers)]
    if values:
        extra.append({"terms": {"identifier_values": values[:20], "boost": 10.0}})
    if f.postcodes:
        extra.append({"terms": {"postcodes": list(f.postcodes)[:20]}})
    if f.uprns:
        extra.append({"terms": {"uprns": sorted(f.uprns)[:20]}})
    body: dict[str, Any]
    try:
        from search_api.search.query import Criteria, record_query

        ident = f.identifiers[0] if f.identifiers else None
        criteria = Criteria(
            given=list(f.given_tokens[:6]), family=list(f.family_tokens[:6]),
            given_full=f.given, family_full=f.family, dob=f.dob,
            postcode=f.postcodes[0] if f.postcodes else None,
            identifier=(ident[0], ident[1]) if ident else None)
        body = record_query(criteria, size, keys=extra)
    except ImportError:  # pragma: no cover - the search package is part of the product
        should: list[dict[str, Any]] = list(extra)
        for name in (*f.all_given, *f.all_family):
            should.append({"match": {"all_given": name}})
            should.append({"match": {"all_family": name}})
        if f.dob is not None:
            should.append({"term": {"dob_full": str(f.dob)}})
        body = {"query": {"bool": {"should": should, "minimum_should_match": 1}},
                "size": size}
    return body


def candidates_from_opensearch(client: Any, alias: str, seeds: Sequence[RecordFeatures],
                               size: int = CANDIDATES_PER_RECORD
                               ) -> list[list[dict[str, Any]]]:
    """For each seed, the ``_source`` of its top retrieved documents (itself excluded)."""
    lines: list[dict[str, Any]] = []
    for f in seeds:
        lines.append({"index": alias})
        lines.append(_criteria_query(f, size + 1))
    if not lines:
        return []
    response = client.msearch(body=lines)
    out: list[list[dict[str, Any]]] = []
    for f, resp in zip(seeds, response.get("responses", []), strict=False):
        hits = resp.get("hits", {}).get("hits", []) if isinstance(resp, dict) else []
        out.append([h["_source"] for h in hits
                    if str(h.get("_source", {}).get("record_id")) != f.record_id][:size])
    return out


def candidates_from_sql(session: Session, seeds: Sequence[RecordFeatures],
                        limit: int = 200) -> list[list[int]]:
    """Fallback candidate record ids: shared identifier value, date of birth, postcode, or
    surname with a date of birth within a year."""
    out: list[list[int]] = []
    for f in seeds:
        ids: set[int] = set()
        values = [v for _, v in (*f.identifiers, *f.invalid_identifiers)]
        if values:
            ids.update(int(r) for r in session.scalars(select(IdentifierRow.record_id).where(
                IdentifierRow.value.in_(values)).limit(limit)))
        if f.dob is not None and f.dob.precision == "day":
            ids.update(int(r) for r in session.scalars(select(PersonRecordRow.id).where(
                PersonRecordRow.date_of_birth == f.dob.as_date()).limit(limit)))
        if f.postcodes:
            ids.update(int(r) for r in session.scalars(select(AddressRow.record_id).where(
                or_(*[AddressRow.postcode == p for p in f.postcodes])).limit(limit)))
        if f.family and f.dob is not None and f.dob.year is not None:
            # Same surname (as stored, any case) and a date of birth within a year.
            lo, hi = dt.date(f.dob.year - 1, 1, 1), dt.date(f.dob.year + 1, 12, 31)
            ids.update(int(r) for r in session.scalars(select(PersonRecordRow.id).where(
                func.lower(PersonRecordRow.family_name).in_(
                    sorted({f.family, f.family.replace(" ", "-"), f.family_compact})),
                PersonRecordRow.date_of_birth.between(lo, hi)).limit(limit)))
        if f.record_id is not None:
            ids.discard(int(f.record_id))
        out.append(sorted(ids))
    return out


# compare() adds each field's weight with its tf adjustment, score_matrix adds them one by
# one: the totals can differ in the last bits, never by this much.
_COMPARE_SUM_MARGIN = 1e-6


def score_candidates(seed: RecordFeatures, candidates: Iterable[RecordFeatures],
                     params: ModelParams, review_threshold: float
                     ) -> tuple[list[ScoredEdge[int]], dict[tuple[int, int], PairScore]]:
    """Edges (and full explanations) from the seed to the candidates at or above the review
    threshold. Candidates that cannot reach it (``weights_reaching``, with a margin for
    ``compare`` summing the same weights in another order) are not explained at all."""
    edges: list[ScoredEdge[int]] = []
    scores: dict[tuple[int, int], PairScore] = {}
    assert seed.record_id is not None
    a = int(seed.record_id)
    others = [c for c in candidates
              if c.record_id is not None and c.record_id != seed.record_id]
    floor = weight_of(review_threshold)
    if math.isfinite(floor):
        rows, _ = weights_reaching([seed, *others], [(0, k) for k in range(1, len(others) + 1)],
                                   params, floor - _COMPARE_SUM_MARGIN)
        others = [others[k] for k in rows.tolist()]  # pair k is (seed, others[k])
    for cand in others:
        assert cand.record_id is not None
        b = int(cand.record_id)
        s = compare(seed, cand, params)
        if s.match_probability >= review_threshold:
            edges.append(ScoredEdge(a, b, s.match_probability, s.flags))
            scores[(min(a, b), max(a, b))] = s
    return edges, scores


def _opensearch(settings: Any) -> Any:
    from indexer.client import make_client

    return make_client(settings.resolved_opensearch_url, settings.opensearch_timeout)


def seeds_from_opensearch(client: Any, alias: str, record_ids: Sequence[int]
                          ) -> dict[int, RecordFeatures]:
    """Features of the records as just indexed (one ``mget``; absent ones are left out).

    The worker links records right after indexing them, so the index holds exactly the
    documents SQL would build, and one round trip to OpenSearch costs less than rebuilding
    them from five tables (at 1M people this was 6.5 ms of a 54 ms call)."""
    from search_api.search.query import SEARCH_ONLY_FIELDS

    response = client.mget(index=alias, body={"ids": [str(i) for i in record_ids]},
                           _source_excludes=list(SEARCH_ONLY_FIELDS))
    return {int(d["_id"]): features_from_source(d["_source"])
            for d in response.get("docs", []) if d.get("found")}


def link_records(settings: Any, record_ids: list[int], *, client: Any = None,
                 params: ModelParams | None = None,
                 sources: Mapping[int, Mapping[str, Any]] | None = None) -> LinkOutcome:
    """Link freshly indexed records to their candidates (called by the outbox worker).

    sources: the person documents just written for some of the records (the worker has
    them in hand); the others are read back from the index, or built from SQL."""
    ids = sorted({int(r) for r in record_ids})
    outcome = LinkOutcome()
    if not ids:
        return outcome
    config = LinkConfig.from_settings(settings)
    params = params or load_params(settings.data_dir)
    engine = engine_for(settings.resolved_database_url)
    seeds: dict[int, RecordFeatures] = {}
    cand_sources: list[list[RecordFeatures]] | None = None
    try:
        client = client or _opensearch(settings)
        alias = f"{settings.index_prefix}-persons"
        # The records were just bulk-indexed: make them searchable before retrieving.
        client.indices.refresh(index=alias)
        seeds = {i: features_from_source(sources[i]) for i in ids if sources and i in sources}
        if len(seeds) < len(ids):
            seeds.update(seeds_from_opensearch(client, alias, [i for i in ids if i not in seeds]))
        if len(seeds) < len(ids):  # not indexed (yet): build those from SQL
            with session_scope(engine) as session:
                seeds.update(load_features(session, [i for i in ids if i not in seeds]))
        seed_list = [seeds[i] for i in ids if i in seeds]
        found = candidates_from_opensearch(client, alias, seed_list)
        cand_sources = [[cached_features_from_source(src) for src in hits] for hits in found]
    except Exception as exc:  # OpenSearch down or index missing: SQL candidates instead
        log.warning("linkage: OpenSearch retrieval failed (%s); using SQL candidates",
                    type(exc).__name__)
    edges: list[ScoredEdge[int]] = []
    scores: dict[tuple[int, int], PairScore] = {}
    with session_scope(engine) as session:
        if cand_sources is None:
            seeds = load_features(session, ids)
            seed_list = [seeds[i] for i in ids if i in seeds]
            cand_ids = candidates_from_sql(session, seed_list)
            feats = load_features(session, {c for ids_ in cand_ids for c in ids_})
            cand_sources = [[feats[c] for c in ids_ if c in feats] for ids_ in cand_ids]
        # Records arriving together are also compared with each other (blocking keys); a
        # record alone has no partner (and its blocking keys cost ~0.5 ms to build).
        batch: dict[str, list[RecordFeatures]] = {}
        for i, j in candidate_pairs(seed_list) if len(seed_list) > 1 else ():
            batch.setdefault(str(seed_list[i].record_id), []).append(seed_list[j])
        for seed, cands in zip(seed_list, cand_sources, strict=True):
            seen = {c.record_id for c in cands}
            extra = [c for c in batch.get(str(seed.record_id), []) if c.record_id not in seen]
            e, s = score_candidates(seed, [*cands, *extra], params, config.review_threshold)
            edges += e
            scores.update(s)
        outcome = apply_edges(session, edges, config, scores=scores,
                              seeds=[int(f.record_id) for f in seed_list if f.record_id])
    if outcome.merges or outcome.reviews_queued:
        log.info("linkage: %d merges, %d reviews queued, %d refused",
                 outcome.merges, outcome.reviews_queued, outcome.refused)
    return outcome


def all_features(session: Session, progress: Progress | None = None) -> list[RecordFeatures]:
    from indexer.documents import iter_all_person_docs

    out: list[RecordFeatures] = []
    for doc in iter_all_person_docs(session):
        out.append(features_from_source(doc.source))
        if progress is not None and len(out) % 1000 == 0:
            progress("load", len(out), 0)
    return out


def features_from_index(client: Any, alias: str, progress: Progress | None = None
                        ) -> tuple[list[RecordFeatures], list[tuple[int, int]]]:
    """Every document's features in record id order, read in one scan of the index (at 1M
    people a fraction of the cost of building the documents again from SQL), with each
    document's (record id, version) so the caller can check them against the store."""
    from opensearchpy import helpers

    from search_api.search.query import SEARCH_ONLY_FIELDS

    found: list[tuple[int, int, RecordFeatures]] = []
    for hit in helpers.scan(client, index=alias, query={"query": {"match_all": {}}},
                            size=2000, _source_excludes=list(SEARCH_ONLY_FIELDS),
                            request_timeout=120):
        source = hit["_source"]
        found.append((int(source["record_id"]), int(source["version"]),
                      features_from_source(source)))
        if progress is not None and len(found) % 10_000 == 0:
            progress("load", len(found), 0)
    found.sort(key=lambda t: t[0])
    return [f for _, _, f in found], [(i, v) for i, v, _ in found]


def _stored_versions(session: Session) -> list[tuple[int, int]]:
    rows = session.execute(select(PersonRecordRow.id, PersonRecordRow.version)
                           .order_by(PersonRecordRow.id))
    return [(int(i), int(v)) for i, v in rows]


def _outbox_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(OutboxRow)
                              .where(OutboxRow.processed_at.is_(None)))


def full_relink_features(settings: Any, session: Session, progress: Progress | None = None
                         ) -> tuple[list[RecordFeatures], str]:
    """Features of every record and where they came from ("index" or "store").

    The index is used only when it provably holds the store's documents: no change waits in
    the outbox, and it has exactly the stored records at their stored versions. Otherwise
    (changes not yet indexed, OpenSearch down, another store's index) the documents are
    built from SQL, which is always complete."""
    alias = f"{settings.index_prefix}-persons"
    try:
        if _outbox_empty(session):
            client = _opensearch(settings)
            client.indices.refresh(index=alias)
            stored = session.scalar(select(func.count()).select_from(PersonRecordRow))
            if int(client.count(index=alias)["count"]) == stored:
                records, versions = features_from_index(client, alias, progress)
                if versions == _stored_versions(session):
                    return records, "index"
        log.info("linkage: the index does not hold the stored records as they are; "
                 "features come from SQL")
    except Exception as exc:  # OpenSearch down or index missing: SQL is complete
        log.warning("linkage: index scan failed (%s); features come from SQL",
                    type(exc).__name__)
    return all_features(session, progress), "store"


def link_full(settings: Any, *, params: ModelParams | None = None,
              progress: Progress | None = None) -> LinkOutcome:
    """Re-link every record: batch blocking keys, the same scores and clustering rules.

    Pairs are held as an array and scored a chunk at a time, keeping only those at or above
    the review threshold, so memory is the records' features plus the kept pairs. The
    features are loaded with the cyclic collector paused and then frozen (``linkage.heap``)."""
    from linkage.blocking import RuleStats, candidate_pair_array
    from linkage.training import score_pairs

    started = time.perf_counter()
    config = LinkConfig.from_settings(settings)
    params = params or load_params(settings.data_dir)
    engine = engine_for(settings.resolved_database_url)
    with session_scope(engine) as session, collector_paused():
        records, origin = full_relink_features(settings, session, progress)
    with frozen_heap():
        rule_stats: list[RuleStats] = []
        pairs = candidate_pair_array(records, stats=rule_stats)
        narrowed = [r.name for r in rule_stats if r.budget_limit < r.limit]
        compared = len(pairs)
        rows, weights = score_pairs(records, pairs, params,
                                    weight_of(config.review_threshold) - 1e-9, progress)
        kept = pairs[rows]
        del pairs
        edges, scores = _edges_to_apply(records, kept, weights, config, params)
        with session_scope(engine) as session:
            outcome = apply_edges(session, edges, config, scores=scores, source="full_relink")
    log.info("linkage: full re-link of %d records (features from the %s; %d pairs compared; "
             "rules narrowed to their budget: %s) in %.1fs: %d merges, %d reviews queued",
             len(records), origin, compared, ", ".join(narrowed) or "none",
             time.perf_counter() - started, outcome.merges, outcome.reviews_queued)
    return outcome


def _edges_to_apply(records: Sequence[RecordFeatures], kept: Any, weights: Any,
                    config: LinkConfig, params: ModelParams
                    ) -> tuple[list[ScoredEdge[int]], dict[tuple[int, int], PairScore]]:
    """The kept pairs at or above the review threshold as edges between record ids, with the
    full comparison of those that may go to review (for their explanation)."""
    edges: list[ScoredEdge[int]] = []
    scores: dict[tuple[int, int], PairScore] = {}
    for (i, j), w in zip(kept.tolist(), weights.tolist(), strict=True):
        p = probability(w)
        if p < config.review_threshold:
            continue
        a, b = records[i], records[j]
        assert a.record_id is not None and b.record_id is not None
        ra, rb = int(a.record_id), int(b.record_id)
        edges.append(ScoredEdge(ra, rb, p, pair_flags(a, b)))
        if p < config.auto_threshold or edges[-1].flags:
            scores[(min(ra, rb), max(ra, rb))] = compare(a, b, params)
    return edges, scores


MIN_TRAINING_RECORDS = 500


def train_from_store(settings: Any, *, u_sample_size: int = 200_000,
                     min_records: int = MIN_TRAINING_RECORDS,
                     progress: Progress | None = None) -> ModelParams:
    """Train on every record in the store (no labels) and save
    ``<data_dir>/linkage_params.json``. Human decisions are constraints, not parameters, so a
    retrain never overrides them. Raises ValueError with fewer than ``min_records`` records:
    EM on a handful of pairs gives worse parameters than the defaults."""
    from pathlib import Path

    from linkage.model import PARAMS_FILE
    from linkage.training import train

    engine = engine_for(settings.resolved_database_url)
    with session_scope(engine) as session, collector_paused():
        records = all_features(session, progress)
    if len(records) < min_records:
        raise ValueError(f"only {len(records)} person records: training needs at least "
                         f"{min_records}; the default parameters stay in use")
    with frozen_heap():
        params = train(records, u_sample_size=u_sample_size, progress=progress)
    params.save(Path(settings.data_dir) / PARAMS_FILE)
    return params
