"""Start-up work shared by `serve` and the tests: indices exist, demo data is loaded."""

from __future__ import annotations

from rich.console import Console

from schemas.settings import Mode, Settings

# A node that has just turned green can still take several seconds per request on a busy
# machine; set-up is not latency-sensitive, so it waits longer than requests do.
SETUP_TIMEOUT_SECONDS = 60.0


def bootstrap(settings: Settings, console: Console | None = None) -> None:
    _ensure_indices(settings, console)
    if settings.mode is Mode.embedded and settings.demo_data:
        from search_api.demo import load_demo

        load_demo(settings, console)


def _ensure_indices(settings: Settings, console: Console | None) -> None:
    """The search indices exist behind their aliases; a down cluster is reported, not fatal:
    records are still stored and wait in the outbox."""
    from indexer.client import make_client
    from indexer.lifecycle import ensure_indices

    try:
        ensure_indices(make_client(settings.resolved_opensearch_url, SETUP_TIMEOUT_SECONDS),
                       settings.index_prefix)
    except Exception as exc:
        if console is not None:
            console.print(f"[yellow]warning:[/yellow] search indices not checked: "
                          f"OpenSearch did not answer ({type(exc).__name__})", soft_wrap=True)
