"""Shared CLI helpers: settings with one-line errors, and the red error line."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
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
