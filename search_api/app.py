"""The FastAPI app factory."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from schemas.logging_config import configure_logging
from schemas.settings import Settings, get_settings
from search_api.access.install import install_access
from search_api.routers import health
from search_api.state import AppState

log = logging.getLogger("casesearch.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
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
