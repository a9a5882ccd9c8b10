"""``install_access(app, settings)``: called once by ``create_app``.

Refuses to build an app in production mode without an OIDC issuer, then installs the token
validator (or the development issuer in embedded mode), the rate limiter, the middleware
(request limits, security headers, CORS only when ``cors_origins`` is set) and the routers
(audit; dev issuer in embedded mode only).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from schemas.settings import Mode, Settings, SettingsError
from search_api.access.dependencies import AccessState
from search_api.access.middleware import RequestLimitMiddleware, SecurityHeadersMiddleware
from search_api.access.principal import Role
from search_api.access.ratelimit import make_rate_limiter
from search_api.access.tokens import DevIssuer, TokenValidator


class AccessConfigurationError(SettingsError):
    """The app must not start with these settings."""


def dev_issuer_url(settings: Settings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}/dev-issuer"


def build_access_state(settings: Settings) -> AccessState:
    if settings.mode is Mode.production and not settings.oidc_issuer:
        raise AccessConfigurationError(
            "CASESEARCH_OIDC_ISSUER: production mode needs a real OIDC issuer (the built-in "
            "development issuer is for the embedded quick start only); set "
            "CASESEARCH_OIDC_ISSUER (and CASESEARCH_OIDC_AUDIENCE) and start again")
    dev: DevIssuer | None = None
    if settings.dev_issuer_enabled:
        dev = DevIssuer.load_or_create(settings.data_dir, dev_issuer_url(settings),
                                       settings.oidc_audience)
        validator = TokenValidator(dev.issuer, settings.oidc_audience, dev_issuer=dev)
    else:
        assert settings.oidc_issuer is not None
        validator = TokenValidator(settings.oidc_issuer, settings.oidc_audience,
                                   jwks_url=settings.oidc_jwks_url)
    return AccessState(
        settings=settings, validator=validator, dev_issuer=dev,
        limiter=make_rate_limiter(settings.rate_limit_per_minute, settings.broker_url,
                                  settings.index_prefix),
        sealed_roles=frozenset(Role(r) for r in settings.sealed_roles),
    )


def install_access(app: FastAPI, settings: Settings) -> None:
    from search_api.routers import audit, dev_issuer

    app.state.access = build_access_state(settings)
    # Added innermost first: the security headers wrap everything, 413/414 answers included.
    app.add_middleware(RequestLimitMiddleware)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key"],
                           allow_credentials=False, max_age=600)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.mode is Mode.production)
    if app.state.access.dev_issuer is not None:
        app.include_router(dev_issuer.router)
    app.include_router(audit.router)
    app.router.on_startup.append(lambda: assert_all_protected(app))


def assert_all_protected(app: FastAPI) -> None:
    """At start-up, when every router is in: refuse to serve a route that forgot to depend on
    current_principal (and is neither health, the dev issuer, nor marked ``public``)."""
    from search_api.access.routes import unprotected_routes

    bad = unprotected_routes(app)
    if bad:
        raise RuntimeError("routes without authentication (add Depends(current_principal) or "
                           "require_roles, or mark deliberately open ones with "
                           f"Depends(public)): {', '.join(bad)}")
