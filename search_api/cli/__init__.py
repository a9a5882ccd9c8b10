"""The `casesearch` command line."""

from __future__ import annotations

from search_api.cli.root import app

__all__ = ["app"]
