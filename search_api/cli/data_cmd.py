"""Data commands: migrate, agencies, ingest, check-store."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from schemas.db import engine_for, session_scope, upgrade
from schemas.ingest.readers import FileError
from schemas.ingest.service import ingest_file
from schemas.ingest.store import UnknownAgency
from schemas.integrity import dangling_keys
from schemas.records import Agency, AgencyKind
from schemas.settings import Settings
from schemas.tables import AgencyRow
from search_api.cli.common import console, fail, settings_or_exit


def register(app: typer.Typer) -> None:
    app.command()(migrate)
    agency = typer.Typer(help="Agencies whose records are ingested.", no_args_is_help=True)
    agency.command("add")(agency_add)
    agency.command("load")(agency_load)
    agency.command("list")(agency_list)
    app.add_typer(agency, name="agency")
    app.command()(ingest)
    app.command("check-store")(check_store)


def migrate() -> None:
    """Apply database migrations (run on start in embedded mode; by hand in production)."""
    settings = settings_or_exit()
    upgrade(settings.resolved_database_url)
    console.print("database is at the latest migration")


def _save_agencies(agencies: list[Agency]) -> None:
    settings = settings_or_exit()
    engine = engine_for(settings.resolved_database_url)
    with session_scope(engine) as session:
        for a in agencies:
            session.merge(AgencyRow(code=a.code, name=a.name, kind=a.kind.value))


def agency_add(code: str, name: str, kind: AgencyKind) -> None:
    """Add or rename an agency."""
    try:
        agency = Agency(code=code, name=name, kind=kind)
    except ValueError as exc:
        fail(f"CODE: {exc}")
    _save_agencies([agency])
    console.print(f"agency {agency.code} saved")


def agency_load(path: Path) -> None:
    """Load agencies from a JSON list of {code, name, kind}."""
    try:
        agencies = [Agency.model_validate(a) for a in json.loads(path.read_text())]
    except (OSError, ValueError) as exc:
        fail(f"{path}: {exc}")
    _save_agencies(agencies)
    console.print(f"{len(agencies)} agencies saved")


def agency_list() -> None:
    """List agencies."""
    settings = settings_or_exit()
    engine = engine_for(settings.resolved_database_url)
    from sqlalchemy import select

    table = Table("code", "name", "kind")
    with session_scope(engine) as session:
        for row in session.scalars(select(AgencyRow).order_by(AgencyRow.code)):
            table.add_row(row.code, row.name, row.kind)
    console.print(table)


def check_store() -> None:
    """Count rows whose agency or person record does not exist (exit 1 if any).

    Records' agencies and child rows' records are checked by the store, not by foreign keys
    (README, "Ingesting agency extracts"): this shows, after a restore or a hand-made change,
    that nothing has broken those rules. It reads counts only, no record's content.
    """
    settings = settings_or_exit()
    counts = dangling_keys(engine_for(settings.resolved_database_url))
    table = Table("rows referring to", "missing", title="references checked by the store")
    for reference, missing in counts.items():
        table.add_row(reference, str(missing))
    console.print(table)
    broken = {reference: n for reference, n in counts.items() if n}
    if broken:
        fail(", ".join(f"{n} rows of {reference} refer to nothing" for reference, n
                       in broken.items()))
    console.print("every reference holds")


def ingest(
    file: Path = typer.Argument(..., help="the extract to load"),
    agency: str = typer.Option(..., "--agency", help="code of the agency that sent it"),
    fmt: str = typer.Option(..., "--format", help="csv, jsonl or fhir"),
    rejects: Path | None = typer.Option(None, help="where to write rejected rows "
                                        "(default FILE.rejects.csv)"),
) -> None:
    """Load an agency extract. Valid rows are kept; every rejected row is reported."""
    settings = settings_or_exit()
    engine = engine_for(settings.resolved_database_url)
    rejects_path = rejects or file.with_name(file.name + ".rejects.csv")
    size = file.stat().st_size if file.is_file() else 0
    with Progress(TextColumn("ingest"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task("ingest", total=size or None)
        try:
            report = ingest_file(engine, file, agency.upper(), fmt.lower(), rejects_path,
                                 on_bytes=lambda pos: progress.update(task, completed=pos))
        except (FileError, UnknownAgency) as exc:
            fail(str(exc))
        progress.update(task, completed=size)
    _after_ingest(settings)
    console.print(json.dumps(report.as_dict()))
    if report.rejected:
        console.print(f"{report.rejected} rejected row(s) written to {rejects_path}")


def _after_ingest(settings: Settings) -> None:
    """Embedded mode has no separate worker: drain the outbox now (best effort)."""
    try:
        from workers.outbox import drain_in_process
    except ImportError:
        return
    drain_in_process(settings)
