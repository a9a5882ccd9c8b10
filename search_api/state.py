"""Per-app runtime: the settings and the handles to the real services."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from opensearchpy import OpenSearch
from sqlalchemy import Engine

from indexer.client import make_client
from schemas.db import engine_for
from schemas.settings import Settings


@dataclass
class AppState:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        return engine_for(self.settings.resolved_database_url)

    @cached_property
    def opensearch(self) -> OpenSearch:
        return make_client(self.settings.resolved_opensearch_url,
                           self.settings.opensearch_timeout)

    @cached_property
    def opensearch_fast(self) -> OpenSearch:
        # Readiness must answer within a second even when the cluster hangs.
        return make_client(self.settings.resolved_opensearch_url, 1.0)
