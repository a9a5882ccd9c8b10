"""`casesearch generate`: write synthetic multi-agency extracts with a known truth.

Wire it into the root CLI with ``register(app)``.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from schemas.synthetic import AS_OF, generate_extracts

__all__ = ["generate", "register"]


def _parse_date(value: str | None) -> dt.date:
    if not value:
        return AS_OF
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("expected YYYY-MM-DD") from exc


def generate(
    people: Annotated[int, typer.Option("--people", min=0, help="Number of true people.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same bytes.")],
    out: Annotated[
        Path, typer.Option("--out", file_okay=False, help="Output directory (created).")
    ],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help=f"Reference date YYYY-MM-DD (default {AS_OF.isoformat()})."),
    ] = None,
    planted_rejects: Annotated[
        bool,
        typer.Option("--planted-rejects/--no-planted-rejects",
                     help="Plant rows that validation must reject "
                          "(listed in planted_rejects.csv)."),
    ] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Write synthetic police, health, education and social-care extracts plus truth.csv."""
    reference = _parse_date(as_of)
    console = Console()
    started = time.perf_counter()
    bar = Progress(
        TextColumn("[bold]generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("people"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not progress,
    )
    with bar:
        task = bar.add_task("generate", total=people)
        summary = generate_extracts(
            people, seed, out, as_of=reference, plant_rejects=planted_rejects,
            on_progress=lambda n: bar.advance(task, n),
        )
    elapsed = time.perf_counter() - started
    table = Table(title=f"synthetic extracts in {out}")
    table.add_column("file")
    table.add_column("records", justify="right")
    for name, count in summary.files.items():
        table.add_row(name, str(count))
    table.add_row("truth.csv (person records)", str(summary.person_records))
    table.add_row("planted_rejects.csv", str(summary.planted_rejects))
    console.print(table)
    rate = people / elapsed if elapsed > 0 else 0.0
    console.print(f"{people} people, seed {seed}, in {elapsed:.1f}s ({rate:,.0f} people/s)")


def register(app: typer.Typer) -> None:
    """Add the ``generate`` command to ``app``."""
    app.command("generate")(generate)
