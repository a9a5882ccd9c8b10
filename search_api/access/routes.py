"""Which routes are open, and a check that every other route requires a principal."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from search_api.access.dependencies import current_principal

# Open without credentials. Everything else must depend on current_principal.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
# The development issuer (mounted in embedded mode only).
OPEN_PREFIXES = ("/dev-issuer/", "/.well-known/")
# FastAPI's generated API description and interactive docs: no case data.
DOCS_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def public() -> None:
    """Marker dependency: ``dependencies=[Depends(public)]`` declares a route deliberately open
    (e.g. the web sign-in page). Reviewed like any other access rule."""


def protected_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose every route requires an authenticated principal."""
    deps = list(kwargs.pop("dependencies", []))
    return APIRouter(dependencies=[Depends(current_principal), *deps], **kwargs)


def protect(app: FastAPI, router: APIRouter, **kwargs: Any) -> None:
    """``app.include_router`` that makes every route of ``router`` require a principal."""
    deps = list(kwargs.pop("dependencies", []))
    app.include_router(router, dependencies=[Depends(current_principal), *deps], **kwargs)


@dataclass(frozen=True)
class RouteInfo:
    """One effective route: its full path, methods, and (API routes) resolved dependencies."""

    path: str
    methods: frozenset[str]
    original: BaseRoute
    dependant: Dependant | None

    @property
    def label(self) -> str:
        return f"{','.join(sorted(self.methods)) or '*'} {self.path}"


def iter_routes(app: FastAPI) -> list[RouteInfo]:
    """Every route the app serves, with include-time dependencies and prefixes applied.

    Newer FastAPI keeps included routers lazy (``app.routes`` holds the routers, not their
    routes); ``fastapi.routing.iter_route_contexts`` resolves them. Older FastAPI flattens.
    """
    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # pragma: no cover - FastAPI that flattens included routes
        contexts: list[Any] = list(app.routes)
        originals = contexts
    else:
        contexts = list(iter_route_contexts(app.routes))
        originals = [c.original_route for c in contexts]
    out: list[RouteInfo] = []
    for ctx, original in zip(contexts, originals, strict=True):
        dependant = getattr(ctx, "dependant", None) if isinstance(original, APIRoute) else None
        out.append(RouteInfo(path=str(getattr(ctx, "path", "") or ""),
                             methods=frozenset(getattr(ctx, "methods", None) or ()),
                             original=original, dependant=dependant))
    return out


def _calls(dependant: Dependant) -> Iterable[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def requires_principal(route: RouteInfo) -> bool:
    return route.dependant is not None and any(
        call is current_principal for call in _calls(route.dependant))


def is_marked_public(route: RouteInfo) -> bool:
    return route.dependant is not None and any(
        call is public for call in _calls(route.dependant))


def unprotected_routes(app: FastAPI) -> list[str]:
    """``"METHODS path"`` of every route that neither is open by rule nor requires a principal.

    Empty means every data route is protected. Plain Starlette routes and mounts (other than
    static files and FastAPI's docs) cannot be checked, so they are reported too.
    """
    bad: list[str] = []
    for route in iter_routes(app):
        if isinstance(route.original, APIRoute):
            if is_open_path(route.path) or is_marked_public(route) or requires_principal(route):
                continue
            bad.append(route.label)
        elif isinstance(route.original, Route):
            if route.path not in DOCS_PATHS:
                bad.append(route.label)
        elif isinstance(route.original, Mount):
            if not isinstance(route.original.app, StaticFiles):
                bad.append(f"MOUNT {route.path}")
        else:
            bad.append(f"? {route.path or route.original!r}")
    return bad


def protected_routes(app: FastAPI) -> list[RouteInfo]:
    """The API routes that require a principal (the ones a request without one must not pass)."""
    return [r for r in iter_routes(app)
            if isinstance(r.original, APIRoute) and requires_principal(r)]


def open_routes(app: FastAPI) -> list[str]:
    """The API routes that answer without credentials (health, dev issuer, marked public)."""
    return [r.label for r in iter_routes(app)
            if isinstance(r.original, APIRoute) and not requires_principal(r)]
