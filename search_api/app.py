"""The FastAPI app factory."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from schemas.logging_config import configure_logging
from schemas.settings import Settings, get_settings
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
    return app
