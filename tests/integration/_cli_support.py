"""Shared set-up for CLI tests: the command groups under test, reading real settings only."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import typer

from schemas.settings import get_settings


@contextmanager
def cli_app(monkeypatch: pytest.MonkeyPatch, database_url: str, data_dir: Path,
            *registers: Callable[[typer.Typer], None]) -> Iterator[typer.Typer]:
    """A Typer app with ``registers``' commands, configured for ``database_url``."""
    # The CLI reads the environment, where only real settings may be (no CASESEARCH_TEST_*).
    for key in [k for k in os.environ if k.startswith("CASESEARCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CASESEARCH_DATABASE_URL", database_url)
    monkeypatch.setenv("CASESEARCH_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    app = typer.Typer()
    for register in registers:
        register(app)
    try:
        yield app
    finally:
        get_settings.cache_clear()
