"""`casesearch serve`: the quick start. Brings up everything the embedded defaults need."""

from __future__ import annotations

import typer

from schemas.db import upgrade
from schemas.settings import Mode, Settings
from search_api.cli.common import console, fail, settings_or_exit


def register(app: typer.Typer) -> None:
    app.command()(serve)


def prepare(settings: Settings) -> None:
    """Everything `serve` does before it listens: node, migrations, indices, demo data."""
    if settings.manages_local_opensearch:
        from indexer.local_node import LocalNode, LocalNodeError

        node = LocalNode(settings)
        try:
            node.install()
            node.start(wait=True)
        except LocalNodeError as exc:
            fail(str(exc))
    if settings.mode is Mode.embedded:
        upgrade(settings.resolved_database_url)
    from search_api.bootstrap import bootstrap

    bootstrap(settings, console)


def serve(
    host: str | None = typer.Option(None, help="bind address (default CASESEARCH_API_HOST)"),
    port: int | None = typer.Option(None, help="port (default CASESEARCH_API_PORT)"),
    prepare_only: bool = typer.Option(False, help="set everything up, then exit"),
) -> None:
    """Run the API and web pages (embedded defaults: local OpenSearch, SQLite, demo data)."""
    settings = settings_or_exit()
    prepare(settings)
    if prepare_only:
        return
    import uvicorn

    from search_api.app import create_app

    bind_host = host or settings.api_host
    bind_port = port or settings.api_port
    console.print(f"casesearch is running at [bold]http://{bind_host}:{bind_port}/[/bold] "
                  "(Ctrl+C to stop)")
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_config=None,
                access_log=False)
