"""/readyz against the real services; a stopped OpenSearch is named."""

from __future__ import annotations

import socket
import time

from fastapi.testclient import TestClient

from schemas.settings import load_settings
from search_api.app import create_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ready_when_everything_is_up(opensearch_url: str, postgres_url: str,
                                     broker_url: str) -> None:
    settings = load_settings({"CASESEARCH_OPENSEARCH_URL": opensearch_url,
                              "CASESEARCH_DATABASE_URL": postgres_url,
                              "CASESEARCH_BROKER_URL": broker_url})
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["down"] == []


def test_names_opensearch_when_it_is_down_and_answers_fast(postgres_url: str,
                                                           broker_url: str) -> None:
    # Nothing listens on this port: exactly what the app sees when the node is stopped.
    settings = load_settings({"CASESEARCH_OPENSEARCH_URL": f"http://127.0.0.1:{_free_port()}",
                              "CASESEARCH_DATABASE_URL": postgres_url,
                              "CASESEARCH_BROKER_URL": broker_url})
    with TestClient(create_app(settings)) as client:
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["down"] == ["opensearch"]
    assert elapsed < 3


def test_names_the_broker_when_redis_is_down(opensearch_url: str, sqlite_url: str) -> None:
    settings = load_settings({"CASESEARCH_OPENSEARCH_URL": opensearch_url,
                              "CASESEARCH_DATABASE_URL": sqlite_url,
                              "CASESEARCH_BROKER_URL": f"redis://127.0.0.1:{_free_port()}/0"})
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["broker"]
