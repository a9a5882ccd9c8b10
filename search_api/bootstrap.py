"""Start-up work shared by `serve` and the tests: indices exist, demo data is loaded."""

from __future__ import annotations

from rich.console import Console

from schemas.settings import Settings


def bootstrap(settings: Settings, console: Console | None = None) -> None:
    # Filled in as the features that need start-up work land (indices, demo data, auth keys).
    _ensure_indices(settings, console)
    return None


def _ensure_indices(settings: Settings, console: Console | None) -> None:
    """The search indices exist behind their aliases (issue #4); a down cluster is reported,
    not fatal: records are still stored and wait in the outbox."""
    from indexer.client import client_for
    from indexer.lifecycle import ensure_indices

    try:
        ensure_indices(client_for(settings), settings.index_prefix)
    except Exception as exc:
        if console is not None:
            console.print(f"[yellow]warning:[/yellow] search indices not checked: "
                          f"OpenSearch did not answer ({type(exc).__name__})")
