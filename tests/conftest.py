"""Shared fixtures. Integration tests use the real services started by scripts/test.sh.

scripts/test.sh exports CASESEARCH_TEST_DATABASE_URL (PostgreSQL), CASESEARCH_TEST_BROKER_URL
(Redis) and CASESEARCH_TEST_OPENSEARCH_URL. Run outside it, integration tests are skipped with
a reason, unless CASESEARCH_REQUIRE_SERVICES=1 (as in CI), where a missing service fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

# Tests must never read a developer's own CASESEARCH_* settings by accident.
for _key in [k for k in os.environ if k.startswith("CASESEARCH_") and not
             k.startswith(("CASESEARCH_TEST_", "CASESEARCH_REQUIRE_"))]:
    del os.environ[_key]


def _service(var: str) -> str:
    value = os.environ.get(var)
    if value:
        return value
    message = f"{var} is not set: run the tests with scripts/test.sh"
    if os.environ.get("CASESEARCH_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def opensearch_url() -> str:
    return _service("CASESEARCH_TEST_OPENSEARCH_URL")


@pytest.fixture(scope="session")
def broker_url() -> str:
    return _service("CASESEARCH_TEST_BROKER_URL")


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    return _service("CASESEARCH_TEST_DATABASE_URL")


@contextmanager
def fresh_postgres_database(admin_url: str, prefix: str = "t_") -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it afterwards."""
    name = prefix + uuid.uuid4().hex[:12]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        from schemas.db import engine_for

        engine_for.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database per test, dropped afterwards."""
    with fresh_postgres_database(postgres_admin_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'casesearch.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str:  # type: ignore[no-untyped-def]
    """Run a test on both SQL backends."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))
