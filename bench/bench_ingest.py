"""Ingest throughput and peak memory.

    python bench/bench_ingest.py --people 100000 --backends sqlite,postgresql
    python bench/bench_ingest.py --people 1000000 --backends sqlite --memory-only
    python bench/bench_ingest.py --people 100000 --backends postgresql --records persons

Generates the synthetic extracts once per (people, seed) under --work, then ingests them into a
fresh database per backend in a child process, so that each run's peak RSS is its own.
Prints person records/s, all records/s and peak RSS (MiB) per backend, and the CPU time the
ingest took: the child process (user + sys), its parse workers, and for PostgreSQL on this
host the database backends that served it (read from /proc; absent for a remote server).
On a shared machine the wall clock moves with the load; CPU seconds per 1,000 person records
do much less, so compare those.

The generated extracts hold cases and case notes beside the person records, and person
records/s is person records over the time of the whole ingest. ``--records persons`` ingests
the same extracts without their cases and case notes (written once, beside them), so that
person records/s is the rate of person records alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def generate(people: int, seed: int, work: Path) -> Path:
    out = work / f"gen-{people}-{seed}"
    if not (out / "manifest.json").exists():
        from schemas.synthetic import generate_extracts

        started = time.perf_counter()
        generate_extracts(people, seed, out)
        print(f"generated {people} people in {time.perf_counter() - started:.1f}s", flush=True)
    return out


# Record types that are not person records, as JSON Lines extracts tag them.
_NOT_PERSONS = frozenset({"case", "case_note"})


def persons_only(directory: Path) -> Path:
    """A copy of the extracts in ``directory`` without their cases and case notes.

    Only JSON Lines files hold those; every other line (person records, and the rows the
    generator plants to be rejected) is copied byte for byte, so the same rows are rejected.
    """
    out = directory.with_name(directory.name + "-persons")
    if (out / "manifest.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((directory / "manifest.json").read_text())
    for entry in manifest["files"]:
        source, target = directory / entry["path"], out / entry["path"]
        if entry["format"] != "jsonl":
            shutil.copyfile(source, target)
            continue
        kept = 0
        with source.open("rb") as lines, target.open("wb") as written:
            for line in lines:
                try:
                    kind = json.loads(line).get("record_type")
                except (ValueError, AttributeError):  # a planted bad row: keep it
                    kind = None
                if kind not in _NOT_PERSONS:
                    written.write(line)
                    kept += 1
        entry["records"] = kept
    if (directory / "agencies.json").exists():
        shutil.copyfile(directory / "agencies.json", out / "agencies.json")
    # Written last: its presence says the copy is whole.
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out


def _cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _backend_cpu(engine: Any) -> dict[int, float] | None:
    """CPU seconds so far of each client backend serving this database, by pid, or None
    when they cannot be read (SQLite, or a server on another host)."""
    if engine.dialect.name != "postgresql":
        return None
    from sqlalchemy import text

    with engine.connect() as conn:
        pids = conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend'")).scalars().all()
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        out[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return out


def child(directory: Path, url: str) -> None:
    """Runs in a fresh process: migrate, ingest, print one JSON line."""
    from schemas.db import engine_for, upgrade
    from schemas.ingest.directory import ingest_directory

    upgrade(url)
    engine = engine_for(url)
    manifest = json.loads((directory / "manifest.json").read_text())
    backends_before = _backend_cpu(engine)
    self_before = _cpu_seconds(resource.getrusage(resource.RUSAGE_SELF))
    started = time.perf_counter()
    reports = ingest_directory(engine, directory)
    seconds = time.perf_counter() - started
    self_cpu = _cpu_seconds(resource.getrusage(resource.RUSAGE_SELF)) - self_before
    # The parse workers are this process's children, joined by now.
    workers_cpu = _cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN))
    backends_after = _backend_cpu(engine)
    database_cpu = None
    if backends_before is not None and backends_after is not None:
        # Backends opened during the run (the pool grows) started from nothing.
        database_cpu = sum(cpu - backends_before.get(pid, 0.0)
                           for pid, cpu in backends_after.items())
    accepted = sum(r.accepted for r in reports.values())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The largest parse worker's peak.
    workers_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "records": accepted,
                      "person_records": manifest["person_records"],
                      "rejected": sum(r.rejected for r in reports.values()),
                      "peak_rss_mib": round(peak_mib, 1),
                      "worker_peak_rss_mib": round(workers_mib, 1),
                      "cpu_s": round(self_cpu, 2), "worker_cpu_s": round(workers_cpu, 2),
                      "database_cpu_s": None if database_cpu is None else round(database_cpu, 2)}))


def database_url(backend: str, work: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        path = work / f"bench-{uuid.uuid4().hex[:8]}.sqlite3"
        return f"sqlite:///{path}", None
    admin = os.environ.get("CASESEARCH_TEST_DATABASE_URL",
                           "postgresql+psycopg://casesearch:casesearch@127.0.0.1:5433/casesearch")
    name = "bench_" + uuid.uuid4().hex[:8]
    from sqlalchemy import create_engine, text

    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin.rsplit("/", 1)[0] + "/" + name, name


def drop(name: str | None) -> None:
    if name is None:
        return
    from sqlalchemy import create_engine, text

    admin = os.environ.get("CASESEARCH_TEST_DATABASE_URL",
                           "postgresql+psycopg://casesearch:casesearch@127.0.0.1:5433/casesearch")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--work", type=Path, default=ROOT / ".data" / "bench")
    parser.add_argument("--records", choices=("all", "persons"), default="all",
                        help="persons: the extracts without their cases and case notes")
    parser.add_argument("--child", nargs=2, metavar=("DIR", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1])
        return
    args.work.mkdir(parents=True, exist_ok=True)
    directory = generate(args.people, args.seed, args.work)
    if args.records == "persons":
        directory = persons_only(directory)
    for backend in args.backends.split(","):
        url, name = database_url(backend, args.work)
        try:
            out = subprocess.run([sys.executable, __file__, "--child", str(directory), url],
                                 check=True, capture_output=True, text=True).stdout
        finally:
            try:
                drop(name)
            except Exception as exc:  # a failed clean-up must not lose a finished run
                print(f"warning: could not drop the bench database {name}: {exc}",
                      file=sys.stderr)
            if backend == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        result = json.loads(out.strip().splitlines()[-1])
        rate_people = result["person_records"] / result["seconds"]
        rate_all = result["records"] / result["seconds"]
        cpu = result["cpu_s"] + result["worker_cpu_s"] + (result["database_cpu_s"] or 0.0)
        database = ("n/a" if result["database_cpu_s"] is None
                    else f"{result['database_cpu_s']:.1f}")
        print(f"{backend:10s} records={args.records} people={args.people} "
              f"person_records={result['person_records']} "
              f"all_records={result['records']} seconds={result['seconds']:.1f} "
              f"person_records_per_s={rate_people:.0f} records_per_s={rate_all:.0f} "
              f"peak_rss_mib={result['peak_rss_mib']} "
              f"worker_peak_rss_mib={result.get('worker_peak_rss_mib', 0)} "
              f"rejected={result['rejected']} cpu_s={result['cpu_s']:.1f} "
              f"worker_cpu_s={result['worker_cpu_s']:.1f} database_cpu_s={database} "
              f"cpu_s_per_1k_person_records={cpu / result['person_records'] * 1000:.3f} "
              f"load={os.getloadavg()[0]:.1f}",
              flush=True)


if __name__ == "__main__":
    main()
