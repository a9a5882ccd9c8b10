"""The FastAPI app factory."""

from __future__ import annotations

import gc
import logging

from fastapi import FastAPI

from schemas.collector import raised_thresholds
from schemas.logging_config import configure_logging
from schemas.settings import Settings, get_settings
from search_api.access.install import install_access
from search_api.routers import health
from search_api.state import AppState

log = logging.getLogger("casesearch.api")

# Cyclic garbage collector thresholds for an API process. Re-scoring a search allocates tens
# of thousands of small objects; with Python's default (700, 10, 10) the collector ran
# several times per search and a full collection (every cache entry in the process, some
# 430,000 objects) every 40-50 searches: 7-10 ms per search at 1M people, against 2.4-3.7
# ms with these (BENCHMARKS.md, "Search"). Cyclic garbage is still collected, just in
# larger batches.
GC_THRESHOLDS = (10_000, 10, 10)


def configure_gc() -> None:
    """Raise the collector's thresholds (process-wide; never lowers a higher setting, and
    leaves a collector switched off by threshold 0 off)."""
    gc.set_threshold(*raised_thresholds(gc.get_threshold(), GC_THRESHOLDS))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    configure_gc()
    app = FastAPI(
        title="casesearch",
        version="0.1.0",
        description="Search and record linkage over children's social-care case data.",
    )
    app.state.casesearch = AppState(settings)
    app.include_router(health.router)
    # Access control (issue #6): refuses production without an OIDC issuer; adds request
    # limits, security headers, CORS (if configured), the audit and dev-issuer routers.
    # Every other router must depend on search_api.access.current_principal.
    install_access(app, settings)
    # Search, person view and record intake (issue #4); each route requires a principal.
    from search_api.routers import persons, records, search

    app.include_router(search.router)
    app.include_router(persons.router)
    app.include_router(records.router)
    # Linkage (reviews, unlink, match, FHIR $match); each route requires a principal.
    from search_api.routers import fhir, match, reviews

    app.include_router(reviews.router)
    app.include_router(match.router)
    app.include_router(fhir.router)
    # Web pages (issue #7): cookie sessions over the same principal, the same service calls.
    from search_api.web import install_web

    install_web(app)
    if settings.in_process_worker:
        # Embedded mode has no Celery worker: a background thread drains the outbox.
        from workers.outbox import attach_drainer

        attach_drainer(app, settings)
    return app
