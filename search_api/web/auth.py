"""How the web pages know who is signed in, and how their forms resist cross-site requests.

Pages use the same principal as the JSON API (``search_api.access.current_principal``). A
browser cannot send an ``Authorization`` header on a link, so a signed-in person's bearer token
(the same JWT, validated by the same ``TokenValidator``) lives in an HttpOnly, SameSite=Strict
cookie. ``session_principal`` reads and validates it, rate-limits the person like the API does,
and leaves the principal on ``request.state`` where ``current_principal`` finds it; every page
then depends on ``current_principal`` (through ``page_principal``), so the start-up check that
every route is authenticated covers the pages too.

CSRF: every POST form carries ``csrf_token`` = HMAC-SHA256(key = a random value in its own
HttpOnly, SameSite=Strict cookie, message = the session cookie). A cross-site page can read
neither cookie, so it cannot forge the field; the token changes with every sign-in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from schemas.settings import Mode
from search_api.access.dependencies import current_principal, get_access, refuse
from search_api.access.principal import Principal, Role
from search_api.access.tokens import TokenError, principal_from_claims
from search_api.audit.log import AuditEvent, append_committed, client_ip

log = logging.getLogger("casesearch.web")

SESSION_COOKIE = "casesearch_session"
CSRF_COOKIE = "casesearch_csrf"
CSRF_FIELD = "csrf_token"
# How a cookie session is recorded in the audit log's ``auth`` column.
COOKIE_AUTH = "jwt-cookie"


class SignInRequired(Exception):
    """No (valid) session: the page answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str = "/", message: str | None = None,
                 clear: bool = False) -> None:
        super().__init__(message or "sign in required")
        self.next_path = next_path
        self.message = message
        self.clear = clear


class PageError(Exception):
    """An error shown as an HTML page (403, 404, 429, an expired form, ...)."""

    def __init__(self, status: int, title: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.headers = headers or {}


def is_secure(request: Request) -> bool:
    """Cookies get ``Secure`` over HTTPS and always in production mode."""
    settings = request.app.state.casesearch.settings
    return request.url.scheme == "https" or settings.mode is Mode.production


def set_cookie(response: Response, request: Request, name: str, value: str,
               max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite="strict", secure=is_secure(request))


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=is_secure(request))


def safe_next(path: str | None) -> str:
    """A local path to go back to after signing in (never another site)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return "/"
    return path


def _rate_limited(wait: float) -> PageError:
    seconds = max(1, int(wait + 0.999))
    return PageError(429, "Too many requests",
                     f"You have made too many requests. Wait {seconds} seconds and try again.",
                     headers={"Retry-After": str(seconds)})


def principal_from_cookie(request: Request) -> Principal | None:
    """The signed-in person, or None. Never raises for a missing or bad cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    access = get_access(request)
    try:
        claims = access.validator.validate(token)
    except TokenError:
        return None
    return dataclasses.replace(principal_from_claims(claims, access.sealed_roles),
                               auth=COOKIE_AUTH)


def session_principal(request: Request) -> None:
    """Dependency: validate the session cookie and hand the principal to current_principal.

    No cookie: redirect to sign-in. A bad cookie is audited as ``sign_in_failure`` (after the
    same per-address limit the API applies); an expired one just asks to sign in again.
    """
    if isinstance(getattr(request.state, "principal", None), Principal):
        return
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    next_path = here if request.method == "GET" else "/"
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired(next_path)
    access = get_access(request)
    try:
        claims = access.validator.validate(token)
    except TokenError as exc:
        reason = str(exc)
        if reason != "token expired":
            ip = client_ip(request)
            if access.limiter is not None:
                wait = access.limiter.hit(f"ip:{ip}")
                if wait is not None:
                    raise _rate_limited(wait) from exc
            append_committed(request.app.state.casesearch.engine,
                             event=AuditEvent.sign_in_failure, principal=None, client_ip=ip,
                             target=f"{request.method} {request.url.path}", reason=reason,
                             detail={"method": "cookie"})
            log.info("sign-in failure", extra={"reason": reason})
        raise SignInRequired(next_path, "Your session has ended. Sign in again.",
                             clear=True) from exc
    principal = dataclasses.replace(principal_from_claims(claims, access.sealed_roles),
                                    auth=COOKIE_AUTH)
    if access.limiter is not None:
        wait = access.limiter.hit(principal.subject)
        if wait is not None:
            raise _rate_limited(wait)
    request.state.principal = principal


def page_principal(
    _session: Annotated[None, Depends(session_principal)],
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """Dependency every signed-in page uses: the cookie's principal, via current_principal."""
    return principal


def page_roles(*roles: Role) -> Callable[..., Principal]:
    """Like ``require_roles``, for pages: a refusal is audited, then shown as an HTML page."""
    wanted = frozenset(Role(r) for r in roles)

    def _require(request: Request,
                 principal: Annotated[Principal, Depends(page_principal)]) -> Principal:
        if principal.roles & wanted:
            return principal
        try:
            refuse(request, principal, needed=sorted(wanted))
        except HTTPException as exc:
            raise PageError(403, "You cannot see this page",
                            "Your role does not allow this. Ask your casesearch administrator "
                            "if you need it for your work.") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    _require.__name__ = "page_" + "_or_".join(sorted(wanted))
    return _require


# CSRF --------------------------------------------------------------------------------------

def csrf_secret(request: Request) -> str:
    """This browser's CSRF key (from its cookie, or a new one that render() will set)."""
    existing = getattr(request.state, "csrf_secret", None)
    if isinstance(existing, str):
        return existing
    value = request.cookies.get(CSRF_COOKIE)
    if not value or len(value) < 32 or len(value) > 100:
        value = secrets.token_urlsafe(32)
        request.state.new_csrf_secret = value
    request.state.csrf_secret = value
    return value


def csrf_token_for(secret: str, session: str | None) -> str:
    return hmac.new(secret.encode(), (session or "").encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request, session: str | None = None) -> str:
    """The token for this page's forms (bound to the current, or a just-issued, session)."""
    if session is None:
        session = request.cookies.get(SESSION_COOKIE)
    return csrf_token_for(csrf_secret(request), session)


def _same_origin(request: Request) -> bool:
    """Defence in depth beside the token. Browsers send ``Sec-Fetch-Site``; ``Origin`` is
    ``null`` under our ``Referrer-Policy: no-referrer``, so it is checked only when real."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return urlsplit(origin).netloc == request.url.netloc
    return True


async def checked_form(request: Request) -> FormData:
    """Dependency for every POST page: the form, once its CSRF token is checked."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    secret = request.cookies.get(CSRF_COOKIE)
    expected = csrf_token_for(secret, request.cookies.get(SESSION_COOKIE)) if secret else None
    if (not isinstance(sent, str) or expected is None
            or not hmac.compare_digest(sent, expected) or not _same_origin(request)):
        raise PageError(400, "This form has expired",
                        "The form could not be accepted. Go back, reload the page and try "
                        "again.")
    return form


__all__ = [
    "COOKIE_AUTH",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "SESSION_COOKIE",
    "PageError",
    "SignInRequired",
    "checked_form",
    "clear_session",
    "csrf_token",
    "page_principal",
    "page_roles",
    "principal_from_cookie",
    "safe_next",
    "session_principal",
    "set_cookie",
]
