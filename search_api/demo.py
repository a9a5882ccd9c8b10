"""Demo data for the quick start: synthetic multi-agency extracts, ingested, indexed, linked."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy import func, select

from schemas.db import engine_for, session_scope
from schemas.settings import Settings
from schemas.tables import PersonRecordRow

DEMO_PEOPLE = 1500
DEMO_SEED = 2004  # the year of the Bichard inquiry


def has_records(settings: Settings) -> bool:
    engine = engine_for(settings.resolved_database_url)
    with session_scope(engine) as session:
        return bool(session.scalar(select(func.count()).select_from(PersonRecordRow)))


def load_demo(settings: Settings, console: Console | None = None,
              people: int = DEMO_PEOPLE) -> None:
    """Generate, ingest, index and link the demo data once; later starts skip it."""
    if has_records(settings):
        return
    from schemas.ingest.directory import ingest_directory
    from schemas.synthetic import generate_extracts

    out = settings.data_dir / "demo"
    say = console.print if console is not None else (lambda *_a, **_k: None)
    say(f"loading demo data: {people} synthetic people across four agencies ...")
    generate_extracts(people, DEMO_SEED, out)
    engine = engine_for(settings.resolved_database_url)
    reports = ingest_directory(engine, out, rejects_dir=out / "rejects")
    accepted = sum(r.accepted for r in reports.values())
    rejected = sum(r.rejected for r in reports.values())
    say(f"demo data stored: {accepted} records ({rejected} planted invalid rows rejected, "
        f"see {out / 'rejects'})")
    from workers.outbox import drain_in_process

    # Index without per-batch linking: the full re-link below does the whole set at once.
    result = drain_in_process(settings, link=False)
    say(f"demo data indexed: {result.indexed} documents")
    from linkage.incremental import link_full, train_from_store

    # Train on the demo data itself (no labels: u by sampling, m by EM), then link; the
    # identity changes go through the outbox like any other change.
    train_from_store(settings)
    outcome = link_full(settings)
    drain_in_process(settings, link=False)  # identity changes only; linking is done
    say(f"demo identities linked ({outcome.merges} merges, {outcome.reviews_queued} pairs "
        "queued for review)")

