"""Search latency through the API (HTTP, auth, re-scoring, grouping, audit) against the raw
OpenSearch time of the same retrieval query, in the same run.

    python bench/bench_search.py --keep DIR [--queries 300] [--recall 600] [--opensearch-url URL]

``DIR`` is a directory prepared by ``bench_indexing.py --keep DIR`` (its SQLite store and
index prefix are read from ``DIR/bench.json``); without it a fresh 20,000-people data set is
generated and indexed first. Queries are built from stored records the way a duty worker
types them (nicknames and misspellings as held, year only, postcode sectors, free text).
The API runs under uvicorn in this process; requests go over HTTP with a dev-issuer token.
The kept index is timed with the search settings a newly created persons index gets
(concurrent segment search), put back as they were afterwards (``--index-settings as-is``
times it as built).

``--recall N`` also measures relevance at this store's size (``casesearch eval search`` uses
5,000 records, where retrieval is easy): N queries built as ``--dataset synthetic`` builds them
(``evaluation._synthetic_query``: names and date as one agency holds them, year + postcode
sector, free text, former surname or swapped date, three letters + district), from sampled
records of children held by two or more agencies, half of them records carrying a variant
(nickname, typo, ...). A hit is another record of the same child (``DIR/extracts/truth.csv``)
among the first ten results of ``run_search`` (in process). Only counts and rates are printed.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import random
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import httpx  # noqa: E402
from opensearchpy import OpenSearch  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from analyzers.opensearch import search_concurrency_settings  # noqa: E402
from indexer.client import make_client  # noqa: E402
from schemas.db import make_engine, session_scope  # noqa: E402
from schemas.settings import load_settings  # noqa: E402
from schemas.tables import PersonRecordRow  # noqa: E402
from search_api.access.policy import opensearch_filter  # noqa: E402
from search_api.search import evaluation as ev  # noqa: E402
from search_api.search.evaluation import EVAL_PRINCIPAL  # noqa: E402
from search_api.search.models import SearchRequest  # noqa: E402
from search_api.search.query import person_query, persons_by_ids_query  # noqa: E402
from search_api.search.rescore import params_for  # noqa: E402
from search_api.search.service import (  # noqa: E402
    MAX_RECORDS_PER_PAGE,
    SearchEnv,
    fetch_size,
    plan,
)


def _queries(url: str, n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    engine = make_engine(url)
    out: list[dict[str, Any]] = []
    with session_scope(engine) as session:
        total = session.scalar(select(func.max(PersonRecordRow.id))) or 0
        while len(out) < n:
            row = session.get(PersonRecordRow, rng.randint(1, total))
            if row is None or not row.family_name:
                continue
            given = (row.given_names or "").split()
            first = given[0] if given else ""
            year = str(row.date_of_birth.year) if row.date_of_birth else ""
            postcode = next((a.postcode for a in row.addresses if a.postcode), None)
            kind = len(out) % 4
            if kind == 0:
                q = {"given_name": first, "family_name": row.family_name,
                     "dob": row.date_of_birth.isoformat() if row.date_of_birth else None}
            elif kind == 1:
                q = {"given_name": first[:3], "family_name": row.family_name, "dob": year}
            elif kind == 2:
                q = {"text": f"{first} {row.family_name} {year}"}
            else:
                q = {"family_name": row.family_name,
                     "postcode": postcode[:-2].strip() if postcode else None}
            out.append({k: v for k, v in q.items() if v})
    engine.dispose()
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _search_settings(client: OpenSearch, index: str) -> dict[str, Any]:
    """The index's own ``index.search.concurrent*`` settings (None where not set)."""
    found = client.indices.get_settings(index=index, flat_settings=True)
    flat = next(iter(found.values()))["settings"]
    return {f"index.{k}": flat.get(f"index.{k}") for k in search_concurrency_settings()}


def run(opensearch_url: str, keep: Path, n: int, seed: int,
        index_settings: str = "production") -> dict[str, Any]:
    """index_settings="production": the kept index gets the search settings a newly created
    persons index has (``analyzers.opensearch.search_concurrency_settings``) for this run,
    and its own settings back afterwards; "as-is": the index is left as it was built."""
    if index_settings == "as-is":
        return _run(opensearch_url, keep, n, seed)
    meta = json.loads((keep / "bench.json").read_text())
    client = make_client(opensearch_url, 30)
    index = f"{meta['prefix']}-persons"
    before = _search_settings(client, index)
    client.indices.put_settings(index=index, body={f"index.{k}": v for k, v in
                                                   search_concurrency_settings().items()})
    try:
        result = _run(opensearch_url, keep, n, seed)
    finally:
        client.indices.put_settings(index=index, body=before)
    result["index_settings"] = {"production": search_concurrency_settings(),
                                "restored": before}
    return result


def _run(opensearch_url: str, keep: Path, n: int, seed: int) -> dict[str, Any]:
    meta = json.loads((keep / "bench.json").read_text())
    url, prefix = meta["database_url"], meta["prefix"]
    port = _free_port()
    settings = load_settings({"CASESEARCH_OPENSEARCH_URL": opensearch_url,
                              "CASESEARCH_DATABASE_URL": url,
                              "CASESEARCH_INDEX_PREFIX": prefix,
                              "CASESEARCH_DATA_DIR": str(keep),
                              "CASESEARCH_API_PORT": str(port),
                              "CASESEARCH_RATE_LIMIT_PER_MINUTE": "0",
                              "CASESEARCH_LOG_LEVEL": "WARNING"})
    import uvicorn

    from search_api.app import create_app

    app = create_app(settings)
    token, _ = app.state.access.dev_issuer.sign("bench", ["hub_analyst"], None)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    queries = _queries(url, n, seed)
    client = make_client(opensearch_url, 30)
    filters = opensearch_filter(EVAL_PRINCIPAL)
    api_ms: list[float] = []
    raw_ms: list[float] = []
    took_ms: list[float] = []
    lookup_ms: list[float] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        for q in queries[:20]:  # warm-up: caches, JIT, connection pools
            http.post("/v1/search", json={"purpose": "data quality", **q})
        for q in queries:
            body = {"purpose": "data quality", "page_size": 10, **q}
            t0 = time.perf_counter()
            response = http.post("/v1/search", json=body)
            api_ms.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
            p = plan(SearchRequest.model_validate(body))
            retrieval = person_query(p.criteria, filters, fetch_size(1, 10))
            t0 = time.perf_counter()
            raw = client.search(index=f"{prefix}-persons", body=retrieval)
            raw_ms.append((time.perf_counter() - t0) * 1000)
            took_ms.append(float(raw["took"]))
            # The API's second query (every record of the identities shown), sent raw too:
            # retrieval + lookup is the OpenSearch time the API cannot avoid.
            ids = [r["person_id"] for r in response.json()["results"]]
            t0 = time.perf_counter()
            if ids:
                client.search(index=f"{prefix}-persons",
                              body=persons_by_ids_query(ids, filters, MAX_RECORDS_PER_PAGE))
            lookup_ms.append((time.perf_counter() - t0) * 1000)
    server.should_exit = True
    thread.join(10)
    count = client.count(index=f"{prefix}-persons")["count"]
    both = [r + k for r, k in zip(raw_ms, lookup_ms, strict=True)]
    return {
        "queries": len(queries), "person_records": count, "people": meta.get("people"),
        "api_p50_ms": round(statistics.median(api_ms), 1), "api_p95_ms": round(_pct(api_ms, 95), 1),
        "raw_p50_ms": round(statistics.median(raw_ms), 1), "raw_p95_ms": round(_pct(raw_ms, 95), 1),
        "raw_with_lookup_p50_ms": round(statistics.median(both), 1),
        "raw_with_lookup_p95_ms": round(_pct(both, 95), 1),
        "raw_took_p50_ms": round(statistics.median(took_ms), 1),
        "raw_took_p95_ms": round(_pct(took_ms, 95), 1),
    }


def _truth(path: Path, keys: set[str]) -> tuple[dict[str, tuple[str, set[str]]], dict[str, str]]:
    """({key: (person, notes)} for ``keys``, {key: person} of every record of those people)."""
    def rows() -> Any:
        with path.open(encoding="utf-8") as fh:
            for line in csv.DictReader(fh):
                yield ev._key(line["agency"], line["source_system"], line["source_id"]), line

    wanted: dict[str, tuple[str, set[str]]] = {}
    for key, line in rows():
        if key in keys:
            wanted[key] = (line["person_key"], set(filter(None, line["notes"].split(";"))))
    people = {person for person, _ in wanted.values()}
    entity_of = {key: line["person_key"] for key, line in rows() if line["person_key"] in people}
    return wanted, entity_of


def recall(opensearch_url: str, keep: Path, n: int, seed: int) -> dict[str, Any]:
    """recall@1, recall@10 and MRR of ``n`` synthetic-style queries at this store's size."""
    meta = json.loads((keep / "bench.json").read_text())
    rng = random.Random(seed)
    engine = make_engine(meta["database_url"])
    with session_scope(engine) as session:
        top = session.scalar(select(func.max(PersonRecordRow.id))) or 0
        ids = sorted({rng.randint(1, top) for _ in range(n * 4)})
        keys = {r.id: ev._key(r.agency_code, r.source_system, r.source_id) for r in
                session.scalars(select(PersonRecordRow).where(PersonRecordRow.id.in_(ids)))}
    truth, entity_of = _truth(keep / "extracts" / "truth.csv", set(keys.values()))
    held = collections.Counter(entity_of.values())
    queries: list[ev.EvalQuery] = []
    with session_scope(engine) as session:
        found = []
        for rid, key in keys.items():
            person, notes = truth.get(key, ("", set()))
            if held[person] < 2:
                continue
            row = session.get(PersonRecordRow, rid)
            if row is not None and (row.given_names or row.family_name):
                found.append((row, person, notes))
        varied = [f for f in found if f[2] & set(ev._VARIANT_NOTES)]
        plain = [f for f in found if not f[2] & set(ev._VARIANT_NOTES)]
        rng.shuffle(varied)
        rng.shuffle(plain)
        for i, (row, person, notes) in enumerate((varied[:n // 2] + plain)[:n]):
            if (q := ev._synthetic_query(i, row, person, notes)) is not None:
                queries.append(q)
    engine.dispose()
    env = SearchEnv(client=make_client(opensearch_url, 30), prefix=meta["prefix"],
                    principal=EVAL_PRINCIPAL, params=params_for(keep), timeout=30.0)
    ranks = [ev._rank(ev._ours(env, q, 10), q, entity_of) for q in queries]
    out: dict[str, Any] = {}
    for kind in ["all", *sorted({q.kind for q in queries})]:
        m = ev.metrics(kind, [r for q, r in zip(queries, ranks, strict=True)
                              if kind in ("all", q.kind)])
        out[kind] = {"queries": m.queries, "recall@1": round(m.recall(1), 4),
                     "recall@10": round(m.recall(10), 4), "mrr": round(m.mrr, 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--people", type=int, default=20000,
                        help="without --keep: people to generate and index first")
    parser.add_argument("--queries", type=int, default=300,
                        help="latency queries (0: recall only)")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--recall", type=int, default=0,
                        help="also: recall@10 of this many synthetic-style queries (truth.csv)")
    parser.add_argument("--index-settings", choices=["production", "as-is"],
                        default="production",
                        help="time the kept index with a new index's search settings "
                             "(restored afterwards), or as it was built")
    parser.add_argument("--opensearch-url",
                        default=os.environ.get("CASESEARCH_OPENSEARCH_URL",
                                               "http://127.0.0.1:9200"))
    args = parser.parse_args()
    keep = args.keep
    if keep is None or not (keep / "bench.json").exists():
        import tempfile

        from bench_indexing import run as index_run

        keep = keep or Path(tempfile.mkdtemp(prefix="casesearch-bench-"))
        meta = index_run(args.opensearch_url, args.people, 5, keep)
        (keep / "bench.json").write_text(json.dumps(meta, indent=2))
    if args.queries:
        result = run(args.opensearch_url, keep, args.queries, args.seed, args.index_settings)
        print(json.dumps(result, indent=2))
        print(f"search: API p50 {result['api_p50_ms']} ms / p95 {result['api_p95_ms']} ms vs "
              f"raw OpenSearch p50 {result['raw_p50_ms']} ms / p95 {result['raw_p95_ms']} ms "
              f"(took p50 {result['raw_took_p50_ms']} ms / p95 {result['raw_took_p95_ms']} ms) "
              f"over {result['person_records']} records")
    if args.recall:
        rec = recall(args.opensearch_url, keep, args.recall, args.seed)
        print(json.dumps({"recall": rec}, indent=2))
        print(f"recall@10={rec['all']['recall@10']} mrr={rec['all']['mrr']} "
              f"({rec['all']['queries']} queries)")


if __name__ == "__main__":
    main()
