"""Linkage benchmarks: pair scoring throughput, and incremental link latency.

    python bench/bench_linkage.py --compare-only
    python bench/bench_linkage.py --people 2000 --opensearch-url http://127.0.0.1:9200
    python bench/bench_linkage.py --store DIR --opensearch-url http://127.0.0.1:9200

1. ``compare()`` throughput on FEBRL3 candidate pairs (pairs/s, microseconds per pair).
2. With --opensearch-url: generates synthetic multi-agency extracts (--people), ingests them
   into a fresh SQLite database, indexes them under a throwaway prefix WITHOUT linking, then
   times ``link_records`` (retrieval + scoring + clustering + SQL writes) for batches of 1, 10
   and 100 records: p50 / p95 milliseconds per batch. The prefix is deleted afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bench_compare(limit: int) -> None:
    from linkage.blocking import candidate_pairs
    from linkage.evaluation import febrl_features, load_febrl
    from linkage.model import compare

    df, _, _ = load_febrl("febrl3")
    records = [febrl_features(r) for r in df.to_dict("records")]
    pairs = candidate_pairs(records)[:limit]
    started = time.perf_counter()
    for i, j in pairs:
        compare(records[i], records[j])
    seconds = time.perf_counter() - started
    print(f"compare: {len(pairs)} FEBRL3 candidate pairs in {seconds:.2f}s = "
          f"{len(pairs) / seconds:,.0f} pairs/s ({seconds / len(pairs) * 1e6:.0f} us/pair)")


def bench_incremental(people: int, opensearch_url: str, seed: int, rounds: int) -> None:
    from indexer.client import make_client
    from indexer.lifecycle import delete_indices
    from linkage.incremental import link_records
    from schemas.db import engine_for, session_scope, upgrade
    from schemas.ingest.directory import ingest_directory
    from schemas.settings import load_settings
    from schemas.synthetic import generate_extracts
    from schemas.tables import PersonRecordRow
    from workers.outbox import drain

    work = Path(tempfile.mkdtemp(prefix="bench-linkage-"))
    generate_extracts(people, seed, work / "gen")
    url = f"sqlite:///{work / 'bench.sqlite3'}"
    prefix = "benchlink" + uuid.uuid4().hex[:6]
    settings = load_settings({"CASESEARCH_DATABASE_URL": url, "CASESEARCH_DATA_DIR": str(work),
                              "CASESEARCH_OPENSEARCH_URL": opensearch_url,
                              "CASESEARCH_INDEX_PREFIX": prefix, "CASESEARCH_LOG_LEVEL":
                              "WARNING"})
    upgrade(url)
    engine = engine_for(url)
    ingest_directory(engine, work / "gen")
    drain(settings, link=False)
    client = make_client(opensearch_url, 30.0)
    client.indices.refresh(index=f"{prefix}-persons")
    from sqlalchemy import select

    with session_scope(engine) as session:
        ids = [int(i) for i in session.scalars(select(PersonRecordRow.id)
                                               .order_by(PersonRecordRow.id))]
    print(f"incremental: {len(ids)} person records indexed under {prefix}")
    try:
        time_link_records(settings, client, ids, rounds, link_records)
    finally:
        delete_indices(client, prefix)


def time_link_records(settings: Any, client: Any, ids: list[int], rounds: int,
                      link_records: Callable[..., Any], *, order_seed: int = 11,
                      batches: tuple[int, ...] = (1, 10, 100)) -> None:
    """p50 / p95 of link_records for batches of 1, 10 and 100 records (after 3 warm-up
    calls, which load the model and name tables).

    Each call gets the records' documents, as the outbox worker hands over the documents it
    has just written; they are built from SQL before the clock starts (the worker builds
    them to index them). Linking changes the store (merges), so a second run on the same
    records finds them linked already: give each run of a before/after comparison its own
    ``order_seed``."""
    import inspect
    import random

    from indexer.documents import load_person_docs
    from schemas.db import engine_for, session_scope

    engine = engine_for(settings.resolved_database_url)

    def documents(chunk: list[int]) -> dict[int, Any]:
        with session_scope(engine) as session:
            return {int(d.id): d.source for d in load_person_docs(session, chunk)}

    # Older code (a before/after comparison) takes no documents: they are still built, so
    # both sides read the same rows before the clock starts.
    hand_over = "sources" in inspect.signature(link_records).parameters
    order = list(ids)
    random.Random(order_seed).shuffle(order)  # spread over the store, not its first rows
    for rid in order[:3]:
        link_records(settings, [rid], client=client)
    cursor = 3
    for batch in batches:
        times = []
        for _ in range(rounds):
            chunk = order[cursor:cursor + batch]
            if len(chunk) < batch:
                break
            cursor += batch
            sources = documents(chunk)
            started = time.perf_counter()
            if hand_over:
                link_records(settings, chunk, client=client, sources=sources)
            else:
                link_records(settings, chunk, client=client)
            times.append((time.perf_counter() - started) * 1000)
        if times:
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(f"link_records batch={batch:<4} rounds={len(times):<3} "
                  f"p50={statistics.median(times):.0f}ms p95={p95:.0f}ms "
                  f"per_record_p50={statistics.median(times) / batch:.1f}ms", flush=True)


def bench_incremental_on_store(store: Path, opensearch_url: str, rounds: int,
                               **timing: Any) -> None:
    """The same timings against a store and index built by bench_indexing / bench_search
    (--keep DIR: bench.json names the database and the index prefix), e.g. 100k people."""
    import json

    from sqlalchemy import select

    from indexer.client import make_client
    from linkage.incremental import link_records
    from schemas.db import engine_for, session_scope
    from schemas.settings import load_settings
    from schemas.tables import PersonRecordRow

    info = json.loads((store / "bench.json").read_text())
    settings = load_settings({"CASESEARCH_DATABASE_URL": info["database_url"],
                              "CASESEARCH_DATA_DIR": str(store),
                              "CASESEARCH_OPENSEARCH_URL": opensearch_url,
                              "CASESEARCH_INDEX_PREFIX": info["prefix"],
                              "CASESEARCH_LOG_LEVEL": "WARNING"})
    with session_scope(engine_for(info["database_url"])) as session:
        ids = [int(i) for i in session.scalars(select(PersonRecordRow.id))]
    print(f"incremental: {len(ids)} person records indexed under {info['prefix']} "
          f"({info.get('people')} people)")
    time_link_records(settings, make_client(opensearch_url, 30.0), ids, rounds, link_records,
                      **timing)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compare-only", action="store_true")
    ap.add_argument("--pairs", type=int, default=20_000)
    ap.add_argument("--people", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--opensearch-url", default=None)
    ap.add_argument("--store", type=Path, default=None,
                    help="time against an existing bench store (bench_search.py --keep DIR)")
    ap.add_argument("--order-seed", type=int, default=11,
                    help="which records are linked (a fresh seed for each run on one store)")
    ap.add_argument("--batches", default="1,10,100", help="batch sizes to time")
    args = ap.parse_args()
    timing = {"order_seed": args.order_seed,
              "batches": tuple(int(b) for b in args.batches.split(","))}
    bench_compare(args.pairs)
    if not args.compare_only:
        if not args.opensearch_url:
            ap.error("--opensearch-url is needed for the incremental benchmark")
        if args.store:
            bench_incremental_on_store(args.store, args.opensearch_url, args.rounds, **timing)
        else:
            bench_incremental(args.people, args.opensearch_url, args.seed, args.rounds)


if __name__ == "__main__":
    main()
