"""``current_principal``: who is calling, from a bearer token or an ``X-API-Key`` header.

Missing credentials answer 401 with ``WWW-Authenticate: Bearer``. Invalid ones do too, and
are audited as ``sign_in_failure`` (after a per-client-address rate limit, so a flood of bad
credentials cannot flood the audit log). Authenticated callers are rate-limited per principal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import jwt
from fastapi import Depends, HTTPException, Request

from schemas.db import session_scope
from schemas.settings import Settings
from search_api.access.apikeys import principal_for_api_key
from search_api.access.principal import Principal, Role
from search_api.access.ratelimit import RateLimiter, retry_after_header
from search_api.access.tokens import DevIssuer, TokenError, TokenValidator, principal_from_claims
from search_api.audit.log import AuditEvent, append_committed, client_ip
from search_api.deps import get_state
from search_api.state import AppState

log = logging.getLogger("casesearch.access")

CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass
class AccessState:
    """Per-app access machinery, at ``app.state.access``."""

    settings: Settings
    validator: TokenValidator
    dev_issuer: DevIssuer | None
    limiter: RateLimiter | None
    sealed_roles: frozenset[Role]


def get_access(request: Request) -> AccessState:
    access: AccessState = request.app.state.access
    return access


def _limit(access: AccessState, key: str) -> None:
    if access.limiter is None:
        return
    wait = access.limiter.hit(key)
    if wait is not None:
        raise HTTPException(429, "too many requests",
                            headers={"Retry-After": retry_after_header(wait)})


def _unverified_subject(token: str) -> str | None:
    try:
        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.InvalidTokenError:
        return None
    return str(sub)[:200] if sub is not None else None


def _sign_in_failed(request: Request, state: AppState, access: AccessState, reason: str,
                    detail: dict[str, Any]) -> NoReturn:
    ip = client_ip(request)
    _limit(access, f"ip:{ip}")
    append_committed(state.engine, event=AuditEvent.sign_in_failure, principal=None,
                     client_ip=ip, target=f"{request.method} {request.url.path}",
                     reason=reason, detail=detail)
    log.info("sign-in failure", extra={"reason": reason})
    raise HTTPException(401, f"not authenticated: {reason}", headers=CHALLENGE)


def current_principal(request: Request,
                      state: Annotated[AppState, Depends(get_state)]) -> Principal:
    """Dependency every protected route uses (directly, or through require_roles)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    access = get_access(request)
    authorization = request.headers.get("authorization")
    api_key = request.headers.get("x-api-key")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            _sign_in_failed(request, state, access, "malformed Authorization header",
                            {"method": "bearer"})
        try:
            claims = access.validator.validate(token)
        except TokenError as exc:
            _sign_in_failed(request, state, access, str(exc),
                            {"method": "bearer", "claimed_subject": _unverified_subject(token)})
        principal = principal_from_claims(claims, access.sealed_roles)
    elif api_key:
        with session_scope(state.engine) as session:
            found = principal_for_api_key(session, api_key.strip(), access.sealed_roles)
        if found is None:
            _sign_in_failed(request, state, access, "unknown or revoked API key",
                            {"method": "apikey", "key_prefix": api_key.strip()[:12]})
        principal = found
    else:
        raise HTTPException(401, "not authenticated", headers=CHALLENGE)
    _limit(access, principal.subject)
    request.state.principal = principal
    return principal


def refuse(request: Request, principal: Principal, *, needed: list[str] | None = None,
           message: str = "your role does not allow this") -> NoReturn:
    """403, written to the audit log as ``permission_refused`` first."""
    append_committed(request.app.state.casesearch.engine,
                     event=AuditEvent.permission_refused, principal=principal,
                     client_ip=client_ip(request),
                     target=f"{request.method} {request.url.path}",
                     detail={"needed_roles": needed} if needed else None)
    raise HTTPException(403, message)
