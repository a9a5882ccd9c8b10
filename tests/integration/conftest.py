"""Integration fixtures for the managed local OpenSearch node (indexer/local_node.py).

The node is the one scripts/test.sh starts: port 9250, data under CASESEARCH_TEST_DATA_DIR
(default .data/test), artifacts in the shared cache. When it already runs the fixture reuses
it; when the fixture had to start it, it stops it again at the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.local_node import LocalNode, LocalNodeError
from schemas.settings import load_settings

# The port scripts/test.sh gives the test node (CASESEARCH_TEST_OPENSEARCH_PORT, default 9250).
MANAGED_NODE_PORT = int(os.environ.get("CASESEARCH_TEST_OPENSEARCH_PORT", "9250"))
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def managed_node() -> Iterator[LocalNode]:
    data_dir = os.environ.get("CASESEARCH_TEST_DATA_DIR", str(REPO_ROOT / ".data" / "test"))
    settings = load_settings({"CASESEARCH_DATA_DIR": data_dir,
                              "CASESEARCH_OPENSEARCH_PORT": str(MANAGED_NODE_PORT)})
    node = LocalNode(settings)
    already_running = node.read_pid() is not None
    try:
        node.install()
        node.start(wait=True, timeout=240)
    except LocalNodeError as exc:
        # No JDK or no network: a missing service, handled like the others in tests/conftest.py.
        if os.environ.get("CASESEARCH_REQUIRE_SERVICES") == "1":
            pytest.fail(f"managed OpenSearch node: {exc}")
        pytest.skip(f"managed OpenSearch node: {exc}")
    yield node
    if not already_running:
        node.stop()
