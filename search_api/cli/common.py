"""Shared CLI helpers: settings with one-line errors, the red error line, the progress bars
and the `eval` group."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from schemas.settings import Settings, SettingsError, get_settings

console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    # soft_wrap: one line however long; escape: "[...]" in a message is text, not markup.
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc), 2)


def progress_bar(label_width: int = 12) -> Progress:
    """The one progress-bar layout of the long-running commands (reindex, link, eval)."""
    return Progress(TextColumn(f"[bold]{{task.description:<{label_width}}}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=False)


def eval_group(app: typer.Typer) -> typer.Typer:
    """The `eval` command group, shared by the features' evaluations (search, linkage)."""
    for info in app.registered_groups:
        if info.name == "eval" and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(no_args_is_help=True, add_completion=False,
                        help="Measure search and linkage quality on labelled data sets.")
    app.add_typer(group, name="eval")
    return group


def advance_by_phase(progress: Progress) -> Callable[[str, int, int], None]:
    """A progress(phase, advance, total) callback: one bar per phase, advanced by steps."""
    tasks: dict[str, TaskID] = {}

    def on_progress(phase: str, advance: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(phase, total=total)
        progress.advance(tasks[phase], advance)

    return on_progress
