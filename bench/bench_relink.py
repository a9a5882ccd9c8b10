"""Full re-link of a generated store: casesearch ``link_full`` and Splink on the same records,
in the same run: wall time, peak memory, and both scored against the generator's truth.

    .venv/bin/python bench/bench_relink.py                        # /tmp/csb/k100 (100k people)
    .venv/bin/python bench/bench_relink.py --limit 5000           # the first 5,000 people only
    .venv/bin/python bench/bench_relink.py --store DIR --work DIR --train --json out.json

``--store DIR`` holds ``bench.json`` (``bench_indexing.py`` / ``bench_search.py --keep DIR``)
and, somewhere under it, the generator's ``truth.csv``. The store is only read: a SQLite store
(``bench.sqlite3``) is copied with the backup API into ``--work``; a PostgreSQL store
(``database_url`` in bench.json) is copied as ``<database>_relink`` with ``CREATE DATABASE ...
TEMPLATE``, which needs the source idle. Everything runs on the copy. Run it in the background
for anything large (``nohup ... > LOG 2>&1 &``).

1. prepare (this process): copy the store; unless ``--keep-identities``, undo the merges
   earlier linking made, so every record is its own identity again (the store as ingested);
   with ``--limit N`` delete the records of all but the first N true people (person_key order).
2. features (child process, not with ``--no-splink``): the features of every record, read as
   ``link_full`` reads them (``full_relink_features``: the index when it provably holds the
   copy, else SQL), as Splink's input table (``linkage.evaluation.splink_frame``), parquet.
3. casesearch (child process): ``--train`` first runs ``train_from_store`` (timed on its own);
   then ``link_full`` with the default parameters (or the trained ones). Its phases are timed
   by wrapping the functions it calls: load features, blocking, comparisons (fork pool),
   scoring, edges (probabilities, safety flags, explanations of review pairs), clustering +
   SQL writes + commit.
4. Splink (child process): Splink 5 + DuckDB on that table with the comparisons of
   ``casesearch eval linkage`` (``linkage.evaluation.splink_link``), trained without labels,
   clustered at the same threshold as casesearch's automatic links (link_auto_threshold).
   Blocking (``--splink-blocking``): ``single``, the evaluation's one-field rules, or
   ``two_field``, rules that join two fields as casesearch's keys do (at 1M people the
   one-field rules ask for 7.1 billion comparisons). ``--no-casesearch`` runs Splink alone.
5. scoring (this process): casesearch's clusters are the identities in the copy after
   ``link_full`` (person ids resolved through ``merged_into``), Splink's are its clusters.
   Pairwise precision / recall / F1 (record pairs in one cluster), B-cubed F1, and wrong
   clusters (clusters holding records of two different true people) for both.

Memory: each system's peak RSS is its own process's (VmHWM). The comparison workers (fork) are
reported separately (the largest worker's peak, RUSAGE_CHILDREN), and the peak proportional
set size of a child process and its workers together is sampled every second from /proc (PSS
counts the pages a fork shares once, so it is the real combined footprint).

The last line is ``relink_seconds=<x> relink_peak_mib=<y> splink_seconds=<z>
splink_peak_mib=<w>``: link_full's wall time (features load to commit) and main-process peak,
Splink's wall time (settings to clusters, input table built) and peak. ``--json PATH`` saves
everything. Progress goes to stderr; nothing prints names, dates of birth or identifiers.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import resource
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from linkage.evaluation import SPLINK_BLOCKINGS  # noqa: E402

MIB = 1024.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _proc_kib(field: str, pid: str = "self") -> int:
    """A ``kB`` line of /proc/<pid>/status (VmHWM, VmRSS); 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _settings(url: str, data_dir: Path) -> Any:
    """The copy's settings; with ``CASESEARCH_OPENSEARCH_URL`` and ``CASESEARCH_INDEX_PREFIX``
    in the environment (``--opensearch-url``) link_full may read features from the store's
    index, which it does only if the index holds the copy's records at their versions."""
    from schemas.settings import load_settings

    env = {"CASESEARCH_DATABASE_URL": url, "CASESEARCH_DATA_DIR": str(data_dir),
           "CASESEARCH_LOG_LEVEL": "WARNING"}
    for name in ("CASESEARCH_OPENSEARCH_URL", "CASESEARCH_INDEX_PREFIX"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return load_settings(env)


# ---------------------------------------------------------------------------------------------
# child processes: each prints one JSON line last on stdout
# ---------------------------------------------------------------------------------------------


def _usage() -> dict[str, float]:
    return {"peak_rss_mib": round(_proc_kib("VmHWM") / MIB, 1)
            or round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MIB, 1),
            "worker_peak_rss_mib":
                round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / MIB, 1)}


def child_features(url: str, data_dir: str, out: str) -> dict[str, Any]:
    """casesearch's features of every record, written as Splink's input table: read as
    link_full reads them (from the index when it provably holds the copy, else from SQL)."""
    from linkage.evaluation import splink_frame
    from linkage.incremental import full_relink_features
    from schemas.db import engine_for, session_scope

    started = time.perf_counter()
    with session_scope(engine_for(url)) as session:
        records, origin = full_relink_features(_settings(url, Path(data_dir)), session)
    loaded = time.perf_counter() - started
    df = splink_frame(records)
    df.to_parquet(out, index=False)
    filled = {c: int(df[c].notna().sum()) for c in df.columns if c not in ("rec_id", "source")}
    return {"records": len(records), "origin": origin, "load_seconds": round(loaded, 2),
            "seconds": round(time.perf_counter() - started, 2), "filled": filled, **_usage()}


class _Phases:
    """Wall time of each function link_full calls, and the process's peak RSS after it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.peak_mib: dict[str, float] = {}
        self.counts: dict[str, Any] = {}

    def wrap(self, name: str, fn: Callable[..., Any],
             count: Callable[[tuple[Any, ...], Any], Any] | None = None) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            self.started.setdefault(name, t0)
            log(f"casesearch: {name} ...")
            result = fn(*args, **kwargs)
            t1 = time.perf_counter()
            self.ended[name] = t1
            self.seconds[name] = self.seconds.get(name, 0.0) + t1 - t0
            self.peak_mib[name] = round(_proc_kib("VmHWM") / MIB, 1)
            if count is not None:
                self.counts[name] = count(args, result)
            log(f"casesearch: {name} done in {t1 - t0:.1f}s, peak so far "
                f"{self.peak_mib[name]:.0f} MiB")
            return result
        return timed


def _progress() -> Callable[[str, int, int], None]:
    last: dict[str, float] = {}

    def report(phase: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last.get(phase, 0.0) >= 30 or (total and done >= total):
            last[phase] = now
            of = f"/{total}" if total else ""
            log(f"casesearch: {phase} {done}{of}")
    return report


def child_casesearch(url: str, data_dir: str, train: bool) -> dict[str, Any]:
    """link_full on the copy (after train_from_store with --train), phases timed."""
    import linkage.blocking as bl
    import linkage.incremental as inc
    import linkage.training as tr
    from linkage.store import LinkConfig

    settings = _settings(url, Path(data_dir))
    out: dict[str, Any] = {}
    if train:
        started = time.perf_counter()
        params = inc.train_from_store(settings, progress=_progress())
        out["train_seconds"] = round(time.perf_counter() - started, 2)
        out["train_peak_rss_mib"] = round(_proc_kib("VmHWM") / MIB, 1)
        out["training"] = params.training
        log(f"casesearch: trained in {out['train_seconds']:.1f}s")
    phases = _Phases()
    inc.full_relink_features = phases.wrap("load", inc.full_relink_features,
                                           lambda a, r: (len(r[0]), r[1]))
    bl.candidate_pair_array = phases.wrap("blocking", bl.candidate_pair_array,
                                          lambda a, r: len(r))
    tr.score_pairs = phases.wrap("compare", tr.score_pairs, lambda a, r: len(r[0]))
    inc.apply_edges = phases.wrap("cluster_write", inc.apply_edges,
                                  lambda a, r: len(a[1]))
    worker_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    outcome = inc.link_full(settings, progress=_progress())
    ended = time.perf_counter()
    seconds = ended - started
    s, e = phases.started, phases.ended
    timing = {
        "load": phases.seconds.get("load", 0.0),
        "blocking": phases.seconds.get("blocking", 0.0),
        # comparisons and scores, a chunk at a time (only pairs >= review threshold kept)
        "compare": phases.seconds.get("compare", 0.0),
        # probabilities, safety flags and full explanations of the pairs that may be reviewed
        "edges": s.get("cluster_write", ended) - e.get("compare", ended),
        # apply_edges (neighbourhood, plan, merges, review queue) and the commit after it
        "cluster_write": ended - s.get("cluster_write", ended),
    }
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    records, features_from = phases.counts.get("load") or (None, None)
    out.update({
        "records": records,
        "features_from": features_from,
        "candidate_pairs": phases.counts.get("blocking"),
        "edges": phases.counts.get("cluster_write"),
        "merges": outcome.merges, "reviews_queued": outcome.reviews_queued,
        "refused": outcome.refused,
        "seconds": round(seconds, 2),
        "phase_seconds": {k: round(v, 2) for k, v in timing.items()},
        "phase_peak_rss_mib": phases.peak_mib,
        "auto_threshold": LinkConfig.from_settings(settings).auto_threshold,
        "params": "trained" if train else "default",
        **_usage(),
        "worker_peak_rss_mib": round(max(workers, worker_before) / MIB, 1),
    })
    return out


def child_splink(table: str, out: str, threshold: float, blocking: str,
                 memory_limit: str) -> dict[str, Any]:
    """Splink on the features table; writes {rec_id: cluster} to ``out``."""
    import pandas as pd

    from linkage.evaluation import SPLINK_ID_COLUMNS, splink_link

    started = time.perf_counter()
    df = pd.read_parquet(table)
    ids = [c for c in SPLINK_ID_COLUMNS if c in df.columns]
    log(f"splink: {len(df)} records, identifier columns {ids}")
    run = splink_link(df, identifier_columns=ids, threshold=threshold, blocking=blocking,
                      memory_limit=memory_limit)
    total = time.perf_counter() - started
    Path(out).write_text(json.dumps(run.assign))
    import duckdb
    import splink

    return {"records": len(df), "seconds": round(run.seconds, 2),
            "child_seconds": round(total, 2), "predicted_pairs": run.predicted_pairs,
            "threshold": threshold, "identifier_columns": ids, "blocking": blocking,
            "memory_limit": memory_limit,
            "splink": splink.__version__, "duckdb": duckdb.__version__, **_usage()}


# ---------------------------------------------------------------------------------------------
# the parent: prepare, run the children, score
# ---------------------------------------------------------------------------------------------


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    frontier = [pid]
    while frontier:
        p = frontier.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children", encoding="ascii") as fh:
                    kids = [int(x) for x in fh.read().split()]
            except OSError:
                continue
            out += kids
            frontier += kids
    return out


def run_child(kind: str, *args: str, cwd: Path) -> dict[str, Any]:
    """Run this script as ``--child kind args...``; its JSON result plus, sampled from
    outside, the peak PSS of the child and all its descendants together and the most
    processes seen at once. Reading PSS walks every page of a process (about half a second
    for 1M people's three 7 GB processes), so the wait between samples is at least 20 times
    the last sample's cost: the sampler takes at most ~5% of a core from the run."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=cwd)
    peak_pss = peak_rss_sum = procs = 0
    while proc.poll() is None:
        sampled = time.perf_counter()
        pids = [proc.pid, *_descendants(proc.pid)]
        peak_pss = max(peak_pss, sum(_pss_kib(p) for p in pids))
        peak_rss_sum = max(peak_rss_sum, sum(_proc_kib("VmRSS", str(p)) for p in pids))
        procs = max(procs, len(pids))
        time.sleep(max(1.0, 20 * (time.perf_counter() - sampled)))
    stdout = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["sampled_peak_pss_total_mib"] = round(peak_pss / MIB, 1)
    result["sampled_peak_rss_sum_mib"] = round(peak_rss_sum / MIB, 1)
    result["sampled_max_processes"] = procs
    return result


def find_truth(store: Path) -> Path:
    found = sorted(store.rglob("truth.csv"))
    if not found:
        raise SystemExit(f"no truth.csv under {store}: the generator's truth file is needed")
    return found[0]


def copy_store(stored_url: str, store: Path, work: Path) -> str:
    """A consistent copy of the store in ``work`` (SQLite: the backup API, which reads
    through the WAL) or beside it (PostgreSQL: ``CREATE DATABASE ... TEMPLATE``, a file copy
    that needs the source idle). The source is never written. Returns the copy's URL."""
    if stored_url.startswith("sqlite:///"):
        source = Path(stored_url.removeprefix("sqlite:///"))
        if not source.exists():
            source = store / "bench.sqlite3"
        target = work / "relink.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return f"sqlite:///{target}"
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(stored_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        raise SystemExit(f"{store}: unsupported store URL backend {url.get_backend_name()!r}")
    copy_name = f"{url.database}_relink"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            busy = conn.execute(text("SELECT count(*) FROM pg_stat_activity "
                                     "WHERE datname = :db"), {"db": url.database}).scalar()
            if busy:
                raise SystemExit(f"database {url.database} has {busy} open connections; "
                                 "a template copy needs it idle (stop the API and workers)")
            conn.execute(text(f'DROP DATABASE IF EXISTS "{copy_name}"'))
            conn.execute(text(f'CREATE DATABASE "{copy_name}" TEMPLATE "{url.database}"'))
    finally:
        admin.dispose()
    return url.set(database=copy_name).render_as_string(hide_password=False)


def truth_of_records(conn: Connection, truth_csv: Path) -> dict[int, str]:
    """record id -> the generator's person_key, through (agency, source_system, source_id)."""
    with truth_csv.open(newline="", encoding="utf-8") as fh:
        person_of = {(r["agency"], r["source_system"], r["source_id"]): r["person_key"]
                     for r in csv.DictReader(fh)}
    rows = conn.execute(text("SELECT id, agency_code, source_system, source_id "
                             "FROM person_records"))
    out: dict[int, str] = {}
    missing = 0
    for rid, agency, system, source_id in rows:
        key = person_of.get((agency, system, source_id))
        if key is None:
            missing += 1
        else:
            out[int(rid)] = key
    if missing:
        raise SystemExit(f"{missing} stored records are not in {truth_csv}")
    return out


def reset_identities(conn: Connection) -> int:
    """Every record back on the person it was ingested with (the first membership row of a
    moved record names it); merges, memberships, link events and reviews removed. Human
    constraints are kept. Returns the number of records moved back."""
    moved = conn.execute(text(
        "UPDATE person_records SET person_id = (SELECT m.person_id FROM record_memberships m "
        "WHERE m.record_id = person_records.id AND m.event_id IS NULL "
        "ORDER BY m.valid_from, m.id LIMIT 1) "
        "WHERE id IN (SELECT record_id FROM record_memberships WHERE event_id IS NULL)"
    )).rowcount
    conn.execute(text("UPDATE persons SET merged_into = NULL WHERE merged_into IS NOT NULL"))
    for table in ("record_memberships", "link_events", "link_reviews"):
        conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed table names
    records, persons = conn.execute(text(
        "SELECT count(*), count(DISTINCT person_id) FROM person_records")).one()
    if records != persons:
        raise SystemExit(f"reset: {records} records on {persons} persons; cannot undo merges")
    return int(moved)


def limit_people(conn: Connection, truth: dict[int, str], limit: int) -> set[int]:
    """Keep only the records of the first ``limit`` true people; returns the kept ids."""
    keep_people = set(sorted(set(truth.values()))[:limit])
    keep = {rid for rid, key in truth.items() if key in keep_people}
    # Names, identifiers and addresses cascade: engine_for turns SQLite's foreign keys on.
    conn.execute(text("CREATE TEMP TABLE keep_ids (id BIGINT PRIMARY KEY)"))
    conn.execute(text("INSERT INTO keep_ids VALUES (:id)"), [{"id": r} for r in sorted(keep)])
    conn.execute(text("DELETE FROM record_memberships "
                      "WHERE record_id NOT IN (SELECT id FROM keep_ids)"))
    conn.execute(text("DELETE FROM link_reviews WHERE record_a NOT IN (SELECT id FROM keep_ids) "
                      "OR record_b NOT IN (SELECT id FROM keep_ids)"))
    conn.execute(text("DELETE FROM person_records WHERE id NOT IN (SELECT id FROM keep_ids)"))
    conn.execute(text("DROP TABLE keep_ids"))
    return keep


def casesearch_clusters(url: str, ids: list[int]) -> dict[int, Hashable]:
    """Each record's current (surviving) person id after the re-link."""
    from linkage.store import current_persons
    from schemas.db import engine_for, session_scope

    with session_scope(engine_for(url)) as session:
        persons = current_persons(session, ids)
    return {rid: persons.get(rid, f"none-{rid}") for rid in ids}


def scores(predicted: Mapping[int, Hashable], truth: Mapping[int, str]
           ) -> dict[str, float]:
    """Pairwise and B-cubed precision / recall / F1 and wrong clusters, from the contingency
    counts (the same numbers as ``linkage.evaluation.metrics`` / ``wrong_clusters``, linear in
    the records however large a cluster gets)."""
    cells: Counter[tuple[Hashable, str]] = Counter((predicted[r], truth[r]) for r in truth)
    pred_size: Counter[Hashable] = Counter()
    true_size: Counter[str] = Counter()
    people_in: dict[Hashable, int] = {}
    for (p, t), n in cells.items():
        pred_size[p] += n
        true_size[t] += n
        people_in[p] = people_in.get(p, 0) + 1

    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    tp = sum(pairs(n) for n in cells.values())
    pred_pairs = sum(pairs(n) for n in pred_size.values())
    true_pairs = sum(pairs(n) for n in true_size.values())
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    total = len(truth)
    bp = sum(n * n / pred_size[p] for (p, _), n in cells.items()) / total
    br = sum(n * n / true_size[t] for (_, t), n in cells.items()) / total

    def f1(a: float, b: float) -> float:
        return 0.0 if a + b == 0 else 2 * a * b / (a + b)

    return {"precision": precision, "recall": recall, "f1": f1(precision, recall),
            "bcubed_f1": f1(bp, br), "true_pairs": true_pairs, "predicted_pairs": pred_pairs,
            "true_positive_pairs": tp, "clusters": len(pred_size), "people": len(true_size),
            "wrong_clusters": sum(1 for v in people_in.values() if v > 1),
            "largest_cluster": max(pred_size.values()) if pred_size else 0}


def _git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=False).stdout.strip()
        except OSError:
            return ""
    paths = ("linkage", "analyzers", "indexer", "schemas")
    diff = git("diff", "HEAD", "--", *paths)
    return {"head": git("rev-parse", "--short", "HEAD"),
            "diff_sha1": hashlib.sha1(diff.encode()).hexdigest()[:12] if diff else None,
            "modified": [name for line in git("status", "--porcelain").splitlines()
                         if (name := line.split(maxsplit=1)[-1]).startswith(paths)]}


def _fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "-"
    if kind == "s":
        return f"{float(value):,.1f}"
    if kind == "mib":
        return f"{float(value):,.0f}"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(result: dict[str, Any]) -> None:
    cs, sp = result["casesearch"], result["splink"]
    cq, sq = result["quality"]["casesearch"], result["quality"]["splink"]
    ph = cs["phase_seconds"]
    rows: list[tuple[str, str, Any, Any]] = [
        ("people (truth)", "", result["people"], result["people"]),
        ("person records", "", cs["records"], sp["records"]),
        ("parameters", "", cs["params"], "trained (EM, no labels)"),
        ("threshold (auto link)", "", cs["auto_threshold"], sp["threshold"]),
        ("candidate pairs (blocking)", "", cs["candidate_pairs"], None),
        ("pairs >= review threshold", "", cs["edges"], None),
        ("pairs predicted >= threshold", "", None, sp["predicted_pairs"]),
    ]
    if "train_seconds" in cs:
        rows.append(("train_from_store s (separate)", "s", cs["train_seconds"], None))
    rows += [
        (f"  load features s (from {cs.get('features_from')})", "s", ph["load"], None),
        ("  blocking s", "s", ph["blocking"], None),
        ("  comparisons + scoring s", "s", ph["compare"], None),
        ("  edges + flags s", "s", ph["edges"], None),
        ("  clustering + writes s", "s", ph["cluster_write"], None),
        ("wall time s", "s", cs["seconds"], sp["seconds"]),
        ("wall time without load s", "s", cs["seconds"] - ph["load"], sp["seconds"]),
        ("peak RSS MiB (main process)", "mib", cs["peak_rss_mib"], sp["peak_rss_mib"]),
        ("peak RSS MiB (largest worker)", "mib", cs["worker_peak_rss_mib"], None),
        ("peak PSS MiB (all processes)", "mib", cs["sampled_peak_pss_total_mib"],
         sp["sampled_peak_pss_total_mib"]),
        ("merges / reviews queued", "", f"{cs['merges']:,} / {cs['reviews_queued']:,}", None),
        ("clusters", "", cq["clusters"], sq["clusters"]),
        ("precision (pairwise)", "", cq["precision"], sq["precision"]),
        ("recall (pairwise)", "", cq["recall"], sq["recall"]),
        ("F1 (pairwise)", "", cq["f1"], sq["f1"]),
        ("B-cubed F1", "", cq["bcubed_f1"], sq["bcubed_f1"]),
        ("wrong clusters (2+ true people)", "", cq["wrong_clusters"], sq["wrong_clusters"]),
        ("largest cluster", "", cq["largest_cluster"], sq["largest_cluster"]),
    ]
    print(f"{'':34s} {'casesearch link_full':>22s} {'Splink (DuckDB)':>24s}")
    for label, kind, a, b in rows:
        print(f"{label:34s} {_fmt(a, kind):>22s} {_fmt(b, kind):>24s}")
    print(f"load average start {result['load_average']['start']} "
          f"end {result['load_average']['end']}; cpus {os.cpu_count()}; "
          f"Splink's input table built in {result['features']['seconds']:.1f}s (not counted)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=Path("/tmp/csb/k100"),
                    help="directory with bench.json, bench.sqlite3 and the extracts' truth.csv")
    ap.add_argument("--work", type=Path, default=Path("/tmp/csb/relink"),
                    help="scratch directory (the copy, parameters, Splink's table)")
    ap.add_argument("--limit", type=int, default=None,
                    help="only the records of the first N true people")
    ap.add_argument("--train", action="store_true",
                    help="train_from_store first (timed separately) instead of the defaults")
    ap.add_argument("--keep-identities", action="store_true",
                    help="re-link on top of the store's current identities instead of the "
                    "records as ingested")
    ap.add_argument("--opensearch-url", default=None,
                    help="OpenSearch holding the store's index (bench.json's prefix): "
                    "link_full then reads features from it, as in production")
    ap.add_argument("--no-splink", action="store_true",
                    help="casesearch only: no Splink run and no Splink input table")
    ap.add_argument("--splink-blocking", choices=SPLINK_BLOCKINGS, default="single",
                    help="Splink's blocking rules: single (the FEBRL evaluation's, one field "
                         "a rule) or two_field (two fields a rule, as casesearch's own keys; "
                         "the one that fits 1M people)")
    ap.add_argument("--splink-memory", default="10GB",
                    help="DuckDB's memory limit for Splink (it spills to disk past it)")
    ap.add_argument("--no-casesearch", action="store_true",
                    help="Splink only (a reference for an earlier casesearch run on the "
                         "same store)")
    ap.add_argument("--json", type=Path, default=None, help="save the results here")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "features":
            report = child_features(rest[0], rest[1], rest[2])
        elif kind == "casesearch":
            report = child_casesearch(rest[0], rest[1], rest[2] == "train")
        elif kind == "splink":
            report = child_splink(rest[0], rest[1], float(rest[2]), rest[3], rest[4])
        else:
            raise SystemExit(f"unknown child {kind}")
        print(json.dumps(report), flush=True)
        return

    load_start = os.getloadavg()
    log(f"load average at start: {' '.join(f'{x:.2f}' for x in load_start)}")
    info = json.loads((args.store / "bench.json").read_text())
    stored_url = str(info.get("database_url") or f"sqlite:///{args.store / 'bench.sqlite3'}")
    truth_csv = find_truth(args.store)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    data_dir = work / "data"
    data_dir.mkdir(exist_ok=True)
    (data_dir / "linkage_params.json").unlink(missing_ok=True)  # defaults unless --train

    started = time.perf_counter()
    url = copy_store(stored_url, args.store, work)
    log(f"copied the store in {time.perf_counter() - started:.1f}s")
    from schemas.db import engine_for

    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            truth = truth_of_records(conn, truth_csv)
            moved = 0 if args.keep_identities else reset_identities(conn)
            if args.limit is not None:
                keep = limit_people(conn, truth, args.limit)
                truth = {r: k for r, k in truth.items() if r in keep}
    finally:
        engine.dispose()
    people = len(set(truth.values()))
    log(f"prepared in {time.perf_counter() - started:.1f}s: {len(truth)} records of {people} "
        f"people ({moved} records moved back to their ingested identity)")

    if args.opensearch_url:
        os.environ["CASESEARCH_OPENSEARCH_URL"] = args.opensearch_url
        os.environ["CASESEARCH_INDEX_PREFIX"] = str(info["prefix"])
    settings = _settings(url, data_dir)
    threshold = float(settings.link_auto_threshold)
    table, clusters_json = work / "splink_input.parquet", work / "splink_clusters.json"
    features: dict[str, Any] = {}
    if not args.no_splink:
        features = run_child("features", url, str(data_dir), str(table), cwd=work)
        log(f"features: {features['records']} records in {features['seconds']:.1f}s")
    casesearch: dict[str, Any] = {}
    if not args.no_casesearch:
        casesearch = run_child("casesearch", url, str(data_dir),
                               "train" if args.train else "default", cwd=work)
        log(f"casesearch: link_full {casesearch['seconds']:.1f}s, "
            f"peak {casesearch['peak_rss_mib']:.0f} MiB")
    splink: dict[str, Any] = {}
    if not args.no_splink:
        splink = run_child("splink", str(table), str(clusters_json), str(threshold),
                           args.splink_blocking, args.splink_memory, cwd=work)
        log(f"splink: {splink['seconds']:.1f}s, peak {splink['peak_rss_mib']:.0f} MiB")

    ids = sorted(truth)
    quality = ({} if args.no_casesearch
               else {"casesearch": scores(casesearch_clusters(url, ids), truth)})
    if splink:
        assign = json.loads(clusters_json.read_text())
        quality["splink"] = scores({r: assign.get(str(r), f"single-{r}") for r in ids}, truth)
    load_end = os.getloadavg()
    result: dict[str, Any] = {
        "store": str(args.store), "limit": args.limit, "people": people,
        "records": len(truth), "keep_identities": args.keep_identities,
        "records_moved_back": moved, "features": features, "casesearch": casesearch,
        "splink": splink, "quality": quality,
        "load_average": {"start": [round(x, 2) for x in load_start],
                         "end": [round(x, 2) for x in load_end]},
        "cpus": os.cpu_count(), "git": _git_state(),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    if splink and casesearch:
        print_table(result)
    else:
        print(json.dumps(result, indent=2, default=str))
    nan = math.nan
    print(f"relink_seconds={casesearch.get('seconds', nan):.1f} "
          f"relink_peak_mib={casesearch.get('peak_rss_mib', nan):.0f} "
          f"splink_seconds={splink.get('seconds', nan):.1f} "
          f"splink_peak_mib={splink.get('peak_rss_mib', nan):.0f}", flush=True)


if __name__ == "__main__":
    main()
