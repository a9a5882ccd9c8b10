"""Ingest a directory of extracts described by a manifest (the generator's output, a demo)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from schemas.db import session_scope
from schemas.ingest.outcome import IngestReport
from schemas.ingest.pipeline import parse_pool
from schemas.ingest.service import ingest_file, workers_for
from schemas.records import Agency
from schemas.tables import AgencyRow


def reader_format(manifest_format: str) -> str:
    """Map a manifest's format label onto a reader: csv, jsonl or fhir."""
    label = manifest_format.lower()
    if label.startswith("fhir"):
        return "fhir"
    if "csv" in label:
        return "csv"
    if "jsonl" in label or "ndjson" in label:
        return "jsonl"
    raise ValueError(f"format: unknown manifest format {manifest_format!r}")


def ingest_directory(engine: Engine, directory: Path, rejects_dir: Path | None = None,
                     on_batch: Callable[[int], None] | None = None,
                     workers: int | None = None) -> dict[str, IngestReport]:
    """Save agencies.json, then ingest every file the manifest lists, in its order.

    One pool of parse workers serves every file (``workers`` as for ``ingest_file``).
    """
    manifest = json.loads((directory / "manifest.json").read_text())
    agencies_file = directory / "agencies.json"
    if agencies_file.exists():
        agencies = [Agency.model_validate(a) for a in json.loads(agencies_file.read_text())]
        with session_scope(engine) as session:
            for a in agencies:
                session.merge(AgencyRow(code=a.code, name=a.name, kind=a.kind.value))
    reports: dict[str, IngestReport] = {}
    paths = [directory / entry["path"] for entry in manifest["files"]]
    size = sum(p.stat().st_size for p in paths if p.is_file())
    with parse_pool(workers_for(size, workers)) as pool:
        for entry, path in zip(manifest["files"], paths, strict=True):
            rejects = (rejects_dir / (entry["path"] + ".rejects.csv")) if rejects_dir else None
            reports[entry["path"]] = ingest_file(engine, path, entry["agency"],
                                                 reader_format(entry["format"]), rejects,
                                                 on_batch=on_batch, workers=workers, pool=pool)
    return reports
