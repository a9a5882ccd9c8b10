"""The web pages (GOV.UK Frontend styling, server-rendered, working without JavaScript).

``install_web(app)`` adds the page routes, the static files (``/static``: GOV.UK Frontend's
built CSS, JS, fonts and images, copied into ``static/govuk`` by ``scripts/bootstrap.sh``, and
our own small ``static/app`` files) and the handlers that turn "sign in first" and page errors
into a redirect or an HTML page. See ``search_api/web/auth.py`` for sessions and CSRF.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

log = logging.getLogger("casesearch.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
GOVUK_CSS = STATIC_DIR / "govuk" / "govuk-frontend.min.css"


class CachedStaticFiles(StaticFiles):
    """Static files with an hour of caching (the security headers default to no-store)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers.setdefault("Cache-Control", "public, max-age=3600")
        return response


def install_web(app: FastAPI) -> None:
    from search_api.web.auth import PageError, SignInRequired
    from search_api.web.pages import page_error_handler, router, sign_in_required_handler

    if not GOVUK_CSS.exists():
        log.warning("GOV.UK Frontend assets are missing (%s): run scripts/bootstrap.sh",
                    GOVUK_CSS.parent)
    app.include_router(router)
    app.mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(SignInRequired, sign_in_required_handler)
    app.add_exception_handler(PageError, page_error_handler)


__all__ = ["STATIC_DIR", "install_web"]
