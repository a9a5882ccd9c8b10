"""Indexing throughput: the worker path (outbox -> SQL -> documents -> bulk, marking rows done)
against raw ``helpers.streaming_bulk`` of the same documents, in the same run.

    python bench/bench_indexing.py --people 20000 [--opensearch-url URL] [--keep DIR] [--reuse]

Generates synthetic extracts, ingests them into a throwaway SQLite store (timed separately),
then drains the outbox into ``bench-<id>-w`` (worker path, linkage hook off) and bulk-writes the
very same documents, prebuilt in memory, into ``bench-<id>-r`` (raw path). Prints docs/s for
both. ``--keep DIR`` keeps the SQLite file and the worker-path indices for bench_search.py;
``--reuse`` with ``--keep DIR`` skips generation and ingestion when DIR already holds a store
(every outbox row is marked pending again, so the worker path redoes all of it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from opensearchpy import helpers  # noqa: E402
from sqlalchemy import update  # noqa: E402

from indexer.bulk import index_actions  # noqa: E402
from indexer.client import make_client  # noqa: E402
from indexer.documents import iter_all_note_docs, iter_all_person_docs  # noqa: E402
from indexer.lifecycle import delete_indices, ensure_indices  # noqa: E402
from schemas.db import make_engine, session_scope, upgrade  # noqa: E402
from schemas.settings import load_settings  # noqa: E402
from schemas.tables import AgencyRow, OutboxRow  # noqa: E402

CHUNK = 500


def prepare(workdir: Path, people: int, seed: int) -> tuple[str, dict[str, Any]]:
    """Generate and ingest; returns the database URL and timings."""
    from schemas.ingest.service import ingest_file
    from schemas.synthetic import FILES, generate_extracts

    url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    out = workdir / "extracts"
    t0 = time.perf_counter()
    generate_extracts(people, seed, out)
    t1 = time.perf_counter()
    with session_scope(engine) as session:
        for a in json.loads((out / "agencies.json").read_text()):
            session.merge(AgencyRow(code=a["code"], name=a["name"], kind=a["kind"]))
    formats = {"SC": "jsonl", "POL": "jsonl", "HEA": "fhir", "EDU": "csv"}
    stored = 0
    for agency, name in FILES.items():
        report = ingest_file(engine, out / name, agency, formats[agency], None)
        stored += report.accepted
    t2 = time.perf_counter()
    engine.dispose()
    return url, {"generate_s": t1 - t0, "ingest_s": t2 - t1, "stored": stored}


def reset_outbox(url: str) -> None:
    """Mark every outbox row pending again (a re-run over an existing store)."""
    engine = make_engine(url)
    with session_scope(engine) as session:
        session.execute(update(OutboxRow).values(processed_at=None, attempts=0,
                                                 last_error=None))
    engine.dispose()


def run(opensearch_url: str, people: int, seed: int, keep: Path | None,
        reuse: bool = False) -> dict[str, Any]:
    workdir = keep or Path(tempfile.mkdtemp(prefix="casesearch-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    client = make_client(opensearch_url, 120)
    if reuse and (workdir / "bench.sqlite3").exists():
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        previous = workdir / "bench.json"
        meta = json.loads(previous.read_text()) if previous.exists() else {}
        if meta.get("prefix"):
            delete_indices(client, meta["prefix"])  # the last run's kept indices
        people = int(meta.get("people") or people)
        timings: dict[str, Any] = {"reused": True}
        reset_outbox(url)
    else:
        url, timings = prepare(workdir, people, seed)
    tag = uuid.uuid4().hex[:6]
    worker_prefix, raw_prefix = f"bench-{tag}-w", f"bench-{tag}-r"
    settings = load_settings({"CASESEARCH_OPENSEARCH_URL": opensearch_url,
                              "CASESEARCH_DATABASE_URL": url,
                              "CASESEARCH_INDEX_PREFIX": worker_prefix,
                              "CASESEARCH_DATA_DIR": str(workdir)})
    from workers.outbox import drain

    # Worker path: exactly what the Celery task / drainer thread does.
    ensure_indices(client, worker_prefix)
    t0 = time.perf_counter()
    result = drain(settings, link=False)
    client.indices.refresh(index=f"{worker_prefix}-persons,{worker_prefix}-notes")
    worker_s = time.perf_counter() - t0
    worker_docs = result.indexed  # writes: a note can be written again with its case
    worker_conflicts = result.conflicts  # of those, refused: that version was there already
    distinct = sum(int(client.count(index=f"{worker_prefix}-{kind}")["count"])
                   for kind in ("persons", "notes"))

    # Raw path: the same documents, built beforehand, straight into streaming_bulk.
    engine = make_engine(url)
    with session_scope(engine) as session:
        persons = list(iter_all_person_docs(session))
        notes = list(iter_all_note_docs(session))
    engine.dispose()
    ensure_indices(client, raw_prefix)
    t0 = time.perf_counter()
    raw_docs = 0
    for index, docs in ((f"{raw_prefix}-persons", persons), (f"{raw_prefix}-notes", notes)):
        for ok, _ in helpers.streaming_bulk(client, index_actions(index, docs),
                                            chunk_size=CHUNK, raise_on_error=False):
            raw_docs += int(ok)
    client.indices.refresh(index=f"{raw_prefix}-persons,{raw_prefix}-notes")
    raw_s = time.perf_counter() - t0
    delete_indices(client, raw_prefix)
    if keep is None:
        delete_indices(client, worker_prefix)
    out = {
        "people": people, "person_records": len(persons), "case_notes": len(notes),
        **{k: round(v, 1) if isinstance(v, float) else v for k, v in timings.items()},
        "worker_docs": worker_docs, "worker_conflicts": worker_conflicts,
        "worker_s": round(worker_s, 1),
        "worker_docs_per_s": round(worker_docs / worker_s),
        "worker_distinct_docs": distinct,
        "worker_distinct_docs_per_s": round(distinct / worker_s),
        "raw_docs": raw_docs, "raw_s": round(raw_s, 1),
        "raw_docs_per_s": round(raw_docs / raw_s),
        # The target of issue #4: distinct documents/s of the worker path over the raw path's.
        "worker_over_raw": round((distinct / worker_s) / (raw_docs / raw_s), 3),
        "database_url": url, "prefix": worker_prefix if keep else None,
        "cpus": os.cpu_count(),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--opensearch-url",
                        default=os.environ.get("CASESEARCH_OPENSEARCH_URL",
                                               "http://127.0.0.1:9200"))
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the store and worker-path indices here (for bench_search)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --keep: reuse the store already there (no re-ingest)")
    args = parser.parse_args()
    result = run(args.opensearch_url, args.people, args.seed, args.keep, args.reuse)
    if args.keep is not None:
        (args.keep / "bench.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"indexing: worker path {result['worker_distinct_docs_per_s']} distinct docs/s "
          f"({result['worker_distinct_docs']} docs, {result['worker_docs']} writes of which "
          f"{result['worker_conflicts']} refused as already there, in "
          f"{result['worker_s']}s) vs raw streaming_bulk {result['raw_docs_per_s']} docs/s "
          f"({result['raw_docs']} docs in {result['raw_s']}s): "
          f"{100 * result['worker_over_raw']:.0f}%")


if __name__ == "__main__":
    main()
