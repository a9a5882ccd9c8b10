"""The OpenSearch client, configured once from settings."""

from __future__ import annotations

from functools import lru_cache

from opensearchpy import OpenSearch

from schemas.settings import Settings


def make_client(url: str, timeout: float = 5.0) -> OpenSearch:
    # No client-side retries: a down cluster must surface as a fast, clear error (503).
    return OpenSearch(hosts=[url], timeout=timeout, max_retries=0, retry_on_timeout=False,
                      http_compress=False)


@lru_cache(maxsize=4)
def _cached(url: str, timeout: float) -> OpenSearch:
    return make_client(url, timeout)


def client_for(settings: Settings) -> OpenSearch:
    return _cached(settings.resolved_opensearch_url, settings.opensearch_timeout)
