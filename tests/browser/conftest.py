"""Browser tests: the real app (uvicorn, on a free loopback port) against real OpenSearch and
PostgreSQL, with a small synthetic data set loaded the way the quick start loads its demo data,
driven by Debian's Chromium through Playwright.

Chromium comes from ``apt-get install chromium`` (scripts/test.sh installs it); Playwright's own
browser download is not used. Without /usr/bin/chromium the tests are skipped, or fail when
CASESEARCH_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas.settings import Settings, load_settings
from tests.browser.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PEOPLE,
    REPO_ROOT,
    SCREENSHOTS,
    SEED,
)
from tests.conftest import fresh_postgres_database


def _missing(message: str) -> None:
    if os.environ.get("CASESEARCH_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does)")
    if not (REPO_ROOT / "search_api/web/static/govuk/govuk-frontend.min.css").exists():
        _missing("GOV.UK Frontend assets are missing: run scripts/bootstrap.sh")
    return CHROMIUM


@pytest.fixture(scope="module")
def web_database(postgres_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for the module's app, dropped afterwards."""
    with fresh_postgres_database(postgres_admin_url, prefix="web_") as url:
        yield url


@pytest.fixture(scope="module")
def web_settings(web_database: str, opensearch_url: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings for a loaded app: the quick start's demo sequence, on a smaller data set."""
    from indexer.client import make_client
    from indexer.lifecycle import delete_indices
    from linkage.incremental import link_full
    from schemas.db import engine_for, upgrade
    from schemas.ingest.directory import ingest_directory
    from schemas.synthetic import generate_extracts
    from workers.outbox import drain_in_process, forget_ensured

    data_dir = tmp_path_factory.mktemp("web")
    prefix = "t-web-" + uuid.uuid4().hex[:8]
    settings = load_settings({
        "CASESEARCH_DATABASE_URL": web_database,
        "CASESEARCH_OPENSEARCH_URL": opensearch_url,
        "CASESEARCH_INDEX_PREFIX": prefix,
        "CASESEARCH_DATA_DIR": str(data_dir),
        "CASESEARCH_OPENSEARCH_TIMEOUT": "30",
        "CASESEARCH_LOG_LEVEL": "WARNING",
        "CASESEARCH_RATE_LIMIT_PER_MINUTE": "0",
    })
    upgrade(web_database)
    extracts = data_dir / "demo"
    generate_extracts(PEOPLE, SEED, extracts)
    ingest_directory(engine_for(web_database), extracts, rejects_dir=extracts / "rejects")
    drain_in_process(settings)
    link_full(settings)
    drain_in_process(settings)
    client = make_client(opensearch_url, 30)
    client.indices.refresh(index=f"{prefix}-persons")
    client.indices.refresh(index=f"{prefix}-notes")
    yield settings
    delete_indices(client, prefix)
    forget_ensured()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(web_settings: Settings) -> Iterator[str]:
    """The real app, served by uvicorn in a background thread."""
    import uvicorn

    from search_api.app import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(web_settings), host="127.0.0.1", port=port,
                            log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-web-tests", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, headless=True,
                                     args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    # Script errors, CSP refusals and static files that failed to load (an error page's own
    # 4xx status is expected and not counted).
    errors: list[str] = []

    def on_console(msg: Any) -> None:
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(msg.text)

    def on_response(response: Any) -> None:
        if "/static/" in response.url and response.status >= 400:
            errors.append(f"{response.status} {response.url}")

    pg.on("console", on_console)
    pg.on("response", on_response)
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.console_errors = errors
    yield pg
    context.close()
