"""Build a large benchmark store (PostgreSQL + person documents in OpenSearch) the fast way.

    python bench/build_bench_store.py --people 1000000 --out /tmp/csb/m1 \
        --database casesearch_bench1m --opensearch-url http://127.0.0.1:9250

For ``bench_search.py --keep DIR`` and ``bench_linkage.py --store DIR`` at sizes where
``bench_indexing.py --keep`` (SQLite, worker-path drain of persons *and* notes) is too slow:

1. generates the synthetic extracts into ``DIR/extracts`` (``schemas.synthetic``; skipped when
   a manifest for the same people and seed is already there);
2. creates the PostgreSQL database ``--database`` on the server of ``--admin-url``, migrates it
   (Alembic) and ingests the extracts with ``ingest_directory`` (as bench_ingest.py does);
3. creates ``<prefix>-persons`` and ``<prefix>-notes`` with ``ensure_indices`` (versioned index
   behind its alias, production mappings and analyzers), then writes every person record's
   document, built by ``indexer.documents`` (the reindex / outbox-worker builder, read in
   keyset-paginated chunks), with ``helpers.parallel_bulk`` and the project's external-version
   actions. The refresh interval is -1 during the load and reset afterwards, so the final
   settings are what production creates (checked). Case notes are NOT indexed: the notes index
   stays empty. Then every outbox row is marked processed in one UPDATE;
4. writes ``DIR/bench.json`` (database_url, prefix, people, person_records, timings).

Nothing personal is printed: counts, rates and timings only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from opensearchpy import OpenSearch, helpers  # noqa: E402
from sqlalchemy import create_engine, func, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from analyzers.opensearch import search_concurrency_settings  # noqa: E402
from indexer.bulk import index_actions  # noqa: E402
from indexer.client import make_client  # noqa: E402
from indexer.documents import IndexDoc, iter_all_person_docs  # noqa: E402
from indexer.lifecycle import delete_indices, ensure_indices  # noqa: E402
from schemas.db import engine_for, session_scope, upgrade  # noqa: E402
from schemas.tables import CaseNoteRow, OutboxRow, PersonRecordRow, utcnow  # noqa: E402

DEFAULT_ADMIN_URL = os.environ.get(
    "CASESEARCH_TEST_DATABASE_URL",
    "postgresql+psycopg://casesearch:casesearch@127.0.0.1:5433/casesearch")
# Settings OpenSearch sets itself on a new index; everything else must match production's.
_GENERATED_SETTINGS = ("uuid", "creation_date", "provided_name", "version")


class ProgressLine:
    """A tqdm-style line (done/total, %, rate, elapsed, left) every ``every`` items: plain
    text, so it reads the same in a log file as on a terminal."""

    def __init__(self, label: str, total: int, every: int) -> None:
        self.label, self.total, self.every = label, max(0, total), max(1, every)
        self.done = 0
        self.started = time.perf_counter()
        self._next = self.every
        self._printed = -1

    def advance(self, n: int) -> None:
        self.done += n
        if self.done >= self._next:
            self._next = (self.done // self.every + 1) * self.every
            self.print()

    def print(self) -> None:
        if self._printed == self.done:
            return
        self._printed = self.done
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        pct = f"{100 * self.done / self.total:5.1f}%" if self.total else "   ?%"
        left = (self.total - self.done) / rate if rate and self.total >= self.done else None
        print(f"{self.label:<8} {self.done:>10,}/{self.total:,} {pct} | {rate:,.0f}/s | "
              f"{_clock(elapsed)} elapsed | {_clock(left) if left is not None else '?'} left",
              flush=True)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _admin_engine(admin_url: str) -> Any:
    return create_engine(admin_url, isolation_level="AUTOCOMMIT")


def database_exists(admin_url: str, name: str) -> bool:
    engine = _admin_engine(admin_url)
    try:
        with engine.connect() as conn:
            return bool(conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                    {"n": name}))
    finally:
        engine.dispose()


def create_database(admin_url: str, name: str, replace: bool) -> str:
    """Create database ``name`` beside the admin URL's (dropping it first with ``replace``);
    returns its URL."""
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"--database: use letters, digits and _ only, not {name!r}")
    engine = _admin_engine(admin_url)
    try:
        with engine.connect() as conn:
            if replace:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return database_url(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    engine = _admin_engine(admin_url)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def database_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def generate(people: int, seed: int, out: Path, every: int) -> float | None:
    """Generate the extracts into ``out``; returns seconds, or None when they were there."""
    manifest = out / "manifest.json"
    if manifest.exists():
        meta = json.loads(manifest.read_text())
        if meta.get("people") == people and meta.get("seed") == seed:
            print(f"generate: reusing the extracts in {out}", flush=True)
            return None
        raise SystemExit(f"{out} holds extracts of another size or seed: remove it first")
    from schemas.synthetic import generate_extracts

    bar = ProgressLine("generate", people, every)
    t0 = time.perf_counter()
    generate_extracts(people, seed, out, on_progress=bar.advance)
    bar.print()
    return time.perf_counter() - t0


def ingest(url: str, extracts: Path, every: int) -> dict[str, Any]:
    """Migrate and ingest (the project's own path, as bench_ingest.py); returns counts."""
    from schemas.ingest.directory import ingest_directory

    upgrade(url)
    engine = engine_for(url)
    manifest = json.loads((extracts / "manifest.json").read_text())
    bar = ProgressLine("ingest", sum(int(f["records"]) for f in manifest["files"]), every)
    t0 = time.perf_counter()
    reports = ingest_directory(engine, extracts, on_batch=bar.advance)
    seconds = time.perf_counter() - t0
    bar.print()
    return {"ingest_s": seconds,
            "stored": sum(r.accepted for r in reports.values()),
            "rejected": sum(r.rejected for r in reports.values())}


def _counted(docs: Iterator[IndexDoc], seen: list[int]) -> Iterator[IndexDoc]:
    for doc in docs:
        seen[0] += 1
        yield doc


def index_persons(client: OpenSearch, url: str, prefix: str, *, chunk: int, threads: int,
                  every: int) -> dict[str, Any]:
    """Persons only, straight from SQL into the (empty) versioned persons index."""
    physical = ensure_indices(client, prefix)
    engine = engine_for(url)
    with session_scope(engine) as session:
        total = int(session.scalar(select(func.count()).select_from(PersonRecordRow)) or 0)
    target = physical["persons"]
    client.indices.put_settings(index=target, body={"index": {"refresh_interval": "-1"}})
    bar = ProgressLine("index", total, every)
    indexed = conflicts = 0
    errors: dict[str, int] = {}  # error type -> count (reasons can quote field values)
    failed: list[int] = []
    built = [0]
    t0 = time.perf_counter()
    # One read transaction; iter_all_person_docs pages by id (keyset) and expunges each chunk,
    # so memory stays bounded. parallel_bulk reads the generator in one pool thread only.
    with session_scope(engine) as session:
        actions = index_actions(target, _counted(iter_all_person_docs(session, chunk), built))
        for ok, item in helpers.parallel_bulk(client, actions, thread_count=threads,
                                              chunk_size=chunk, queue_size=threads,
                                              raise_on_error=False, raise_on_exception=True,
                                              request_timeout=300):
            info = item.get("index", item)
            if ok:
                indexed += 1
            elif info.get("status") == 409:
                conflicts += 1
            else:
                error = info.get("error")
                kind = error.get("type", "?") if isinstance(error, dict) else "?"
                errors[kind] = errors.get(kind, 0) + 1
                if str(info.get("_id", "")).isdigit():
                    failed.append(int(info["_id"]))
            bar.advance(1)
    bulk_s = time.perf_counter() - t0
    bar.print()
    # Back to what ensure_indices created (null removes the override), then make it visible.
    client.indices.put_settings(index=target, body={"index": {"refresh_interval": None}})
    client.indices.refresh(index=f"{prefix}-persons,{prefix}-notes")
    index_s = time.perf_counter() - t0
    check_settings(client, physical)
    count = int(client.count(index=f"{prefix}-persons")["count"])
    return {"index_s": index_s, "bulk_s": bulk_s, "docs_built": built[0], "indexed": indexed,
            "conflicts": conflicts, "errors": errors, "failed_ids": failed,
            "persons_in_index": count, "person_records_in_db": total,
            "physical": physical}


def check_settings(client: OpenSearch, physical: dict[str, str]) -> None:
    """The loaded persons index must have the settings of one created the production way:
    the notes index of the same set, made by the same ``ensure_indices`` call and never
    touched, has them (both use ``analyzers.opensearch.index_settings``)."""
    got = client.indices.get_settings(index=",".join(physical.values()), flat_settings=True)

    def own(name: str) -> dict[str, Any]:
        return {k: v for k, v in got[name]["settings"].items()
                if k.removeprefix("index.").split(".")[0] not in _GENERATED_SETTINGS}

    persons, notes = own(physical["persons"]), own(physical["notes"])
    # The persons index alone also searches its segments concurrently (production's choice).
    notes.update({f"index.{k}": str(v) for k, v in search_concurrency_settings().items()})
    if persons != notes:
        # Values may be lists (flat settings keep arrays): compare their text.
        diff = sorted((k, repr(persons.get(k)), repr(notes.get(k)))
                      for k in set(persons) | set(notes) if persons.get(k) != notes.get(k))
        raise SystemExit(f"persons index settings differ from production's: {diff}")


def mark_outbox_done(url: str, failed: list[int]) -> int:
    """Every pending outbox row processed (one UPDATE), except those of rejected documents,
    so a later drain does not redo the load (nor index the case notes left out)."""
    engine = engine_for(url)
    with session_scope(engine) as session:
        stmt = update(OutboxRow).where(OutboxRow.processed_at.is_(None))
        if failed:
            stmt = stmt.where(~((OutboxRow.entity_type == "person_record")
                                & OutboxRow.entity_id.in_(failed)))
        result = session.execute(stmt.values(processed_at=utcnow())
                                 .execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)


def note_count(url: str) -> int:
    with session_scope(engine_for(url)) as session:
        return int(session.scalar(select(func.count()).select_from(CaseNoteRow)) or 0)


def build(args: argparse.Namespace) -> dict[str, Any]:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if (out / "bench.json").exists():
        raise SystemExit(f"{out / 'bench.json'} exists: this directory already holds a store")
    generate_s = generate(args.people, args.seed, out / "extracts", args.progress_every)

    exists = database_exists(args.admin_url, args.database)
    if exists and args.reuse_db:
        url = database_url(args.admin_url, args.database)
        print(f"ingest: reusing database {args.database}", flush=True)
        ingested: dict[str, Any] = {"ingest_s": None}
    elif exists and not args.replace_db:
        raise SystemExit(f"database {args.database} exists: pass --replace-db (drop it) or "
                         "--reuse-db (keep its data)")
    else:
        url = create_database(args.admin_url, args.database, replace=exists)
        ingested = ingest(url, out / "extracts", args.progress_every)

    client = make_client(args.opensearch_url, 120)
    prefix = args.prefix or f"bench-{uuid.uuid4().hex[:6]}-p"
    if client.indices.get(index=f"{prefix}-*", allow_no_indices=True, expand_wildcards="all"):
        raise SystemExit(f"indices of prefix {prefix} exist already")
    print(f"index: persons into {prefix}-persons ({args.threads} bulk threads, "
          f"chunks of {args.chunk})", flush=True)
    try:
        res = index_persons(client, url, prefix, chunk=args.chunk, threads=args.threads,
                            every=args.progress_every)
    except BaseException:
        delete_indices(client, prefix)  # ours, half-loaded: nothing else is touched
        raise
    t0 = time.perf_counter()
    marked = mark_outbox_done(url, res["failed_ids"])
    mark_s = time.perf_counter() - t0
    if res["errors"]:
        print(f"warning: {sum(res['errors'].values())} documents rejected: {res['errors']} "
              "(their outbox rows stay pending)", flush=True)
    if res["persons_in_index"] != res["person_records_in_db"]:
        print(f"warning: {res['persons_in_index']} person documents in the index but "
              f"{res['person_records_in_db']} person records in the database", flush=True)
    meta = json.loads((out / "extracts" / "manifest.json").read_text())
    docs_per_s = res["indexed"] / res["index_s"] if res["index_s"] else 0.0

    def r(v: float | None) -> float | None:
        return round(v, 1) if v is not None else None

    return {
        "people": args.people,
        "person_records": res["persons_in_index"],
        "case_notes": 0,  # indexed: the notes index exists and is empty
        "case_notes_in_db": note_count(url),
        "seed": args.seed,
        "generate_s": r(generate_s),
        "ingest_s": r(ingested["ingest_s"]),
        "stored": ingested.get("stored"),
        "rejected": ingested.get("rejected"),
        "planted_reject_rows": meta.get("planted_reject_rows"),
        "ingest_records_per_s": (round(ingested["stored"] / ingested["ingest_s"])
                                 if ingested["ingest_s"] else None),
        "index_s": r(res["index_s"]),
        "index_bulk_s": r(res["bulk_s"]),
        "index_docs": res["indexed"],
        "index_docs_per_s": round(docs_per_s),
        "index_conflicts": res["conflicts"],
        "index_errors": sum(res["errors"].values()),
        "outbox_marked_done": marked,
        "outbox_mark_s": r(mark_s),
        "database_url": url,
        "prefix": prefix,
        "indices": res["physical"],
        "opensearch_url": args.opensearch_url,
        "bulk": {"helper": "parallel_bulk", "threads": args.threads, "chunk": args.chunk},
        "built_by": "bench/build_bench_store.py",
        "cpus": os.cpu_count(),
    }


def cleanup(args: argparse.Namespace) -> None:
    """Remove a store built here: its indices, its database and its bench.json."""
    info = json.loads((args.out / "bench.json").read_text())
    name = make_url(info["database_url"]).database or ""
    if name == make_url(args.admin_url).database:
        raise SystemExit(f"refusing to drop {name}: it is the --admin-url database")
    client = make_client(args.opensearch_url, 60)
    delete_indices(client, info["prefix"])
    drop_database(args.admin_url, name)
    (args.out / "bench.json").unlink()
    print(f"removed indices {info['prefix']}-*, database {name} and {args.out / 'bench.json'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True,
                        help="store directory: extracts/ and bench.json go here")
    parser.add_argument("--database", default="casesearch_bench1m",
                        help="PostgreSQL database to create on the --admin-url server")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL,
                        help="a database URL on the server, used to create the database")
    parser.add_argument("--replace-db", action="store_true",
                        help="drop --database first if it exists")
    parser.add_argument("--reuse-db", action="store_true",
                        help="if --database exists, index what it holds (no ingest)")
    parser.add_argument("--opensearch-url",
                        default=os.environ.get("CASESEARCH_OPENSEARCH_URL",
                                               "http://127.0.0.1:9200"))
    parser.add_argument("--prefix", default=None,
                        help="index prefix (default: a fresh bench-<id>-p)")
    parser.add_argument("--chunk", type=int, default=500, help="documents per bulk request")
    parser.add_argument("--threads", type=int, default=2, help="parallel_bulk threads")
    parser.add_argument("--progress-every", type=int, default=50_000)
    parser.add_argument("--cleanup", action="store_true",
                        help="remove the store in --out (indices, database, bench.json)")
    args = parser.parse_args(argv)
    if args.cleanup:
        cleanup(args)
        return
    t0 = time.perf_counter()
    result = build(args)
    result["total_s"] = round(time.perf_counter() - t0, 1)
    (args.out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"store: {result['people']} people, {result['person_records']} person documents "
            f"under {result['prefix']} in {result['index_s']}s "
            f"({result['index_docs_per_s']} docs/s); generate {result['generate_s']}s, "
            f"ingest {result['ingest_s']}s")


if __name__ == "__main__":
    main()
