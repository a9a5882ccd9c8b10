"""Start-up work shared by `serve` and the tests: indices exist, demo data is loaded."""

from __future__ import annotations

from rich.console import Console

from schemas.settings import Settings


def bootstrap(settings: Settings, console: Console | None = None) -> None:
    # Filled in as the features that need start-up work land (indices, demo data, auth keys).
    return None
