"""The API process raises the cyclic garbage collector's thresholds (search allocates tens of
thousands of small objects per request; see search_api.app.GC_THRESHOLDS)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.settings import load_settings
from search_api.app import GC_THRESHOLDS, configure_gc, create_app


@pytest.fixture
def default_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("default_thresholds")
def test_create_app_raises_the_thresholds(tmp_path: Path) -> None:
    create_app(load_settings({"CASESEARCH_DATA_DIR": str(tmp_path),
                              "CASESEARCH_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}))
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] >= 10 * 700


@pytest.mark.usefixtures("default_thresholds")
def test_configure_gc_never_lowers_or_re_enables() -> None:
    gc.set_threshold(50_000, 5, 100)
    configure_gc()
    assert gc.get_threshold() == (50_000, GC_THRESHOLDS[1], 100)
    gc.set_threshold(0)  # collector switched off on purpose: stays off
    configure_gc()
    assert gc.get_threshold()[0] == 0
