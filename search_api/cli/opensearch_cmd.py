"""`casesearch opensearch install|start|stop|status`: the local single-node OpenSearch."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import NoReturn

import typer
from rich.markup import escape

from indexer.local_node import LocalNode, LocalNodeError
from search_api.cli.common import console, settings_or_exit

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Install, start, stop and inspect the local OpenSearch node.")


def fail(message: str) -> NoReturn:
    # One unwrapped line (the log path in it must stay copyable), and no rich markup from
    # the message itself (launcher errors contain [brackets]).
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(1)


def _node() -> LocalNode:
    try:
        return LocalNode(settings_or_exit())
    except LocalNodeError as exc:
        fail(str(exc))


@app.command()
def install() -> None:
    """Download OpenSearch and its analysis plugins (does nothing when already installed)."""
    try:
        home = _node().install()
    except LocalNodeError as exc:
        fail(str(exc))
    console.print(f"OpenSearch ready to start from {home}")


@app.command()
def start(
    wait: bool = typer.Option(True, help="wait until the cluster health is green"),
    timeout: float = typer.Option(240.0, help="seconds to wait for green"),
) -> None:
    """Start the node (installing it first if needed); does nothing when it already runs."""
    try:
        state = _node().start(wait=wait, timeout=timeout)
    except LocalNodeError as exc:
        fail(str(exc))
    console.print(f"OpenSearch running at {state.url} (pid {state.pid}, health "
                  f"{state.health or 'starting'})")


@app.command()
def stop() -> None:
    """Stop the node."""
    try:
        was_running = _node().stop()
    except LocalNodeError as exc:
        fail(str(exc))
    console.print("OpenSearch stopped" if was_running else "OpenSearch was not running")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Show whether the node is installed and running, its health and plugins."""
    state = _node().status()
    if as_json:
        typer.echo(json.dumps(asdict(state)))
        return
    typer.echo(f"installed: {'yes' if state.installed else 'no'}")
    typer.echo(f"running:   {f'yes (pid {state.pid})' if state.running else 'no'}")
    typer.echo(f"url:       {state.url}")
    typer.echo(f"health:    {state.health or '-'}")
    typer.echo(f"plugins:   {', '.join(state.plugins) or '-'}")
