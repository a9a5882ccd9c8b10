"""Root of the CLI: sub-command groups are registered here."""

from __future__ import annotations

import typer

from search_api.cli import access_cmd, data_cmd, opensearch_cmd, search_cmd, serve_cmd

app = typer.Typer(name="casesearch", no_args_is_help=True, add_completion=False,
                  help="Search and record linkage over children's social-care case data.")
app.add_typer(opensearch_cmd.app, name="opensearch", help="Manage the local OpenSearch node.")
serve_cmd.register(app)
data_cmd.register(app)
access_cmd.register(app)
search_cmd.register(app)


def _register_optional() -> None:
    # Command modules owned by later features; each adds its commands to `app`.
    from search_api.cli import generate_cmd, link_cmd

    generate_cmd.register(app)
    link_cmd.register(app)


_register_optional()
