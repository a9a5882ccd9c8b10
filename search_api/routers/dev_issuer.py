"""The development OIDC issuer (embedded mode only): JWKS, discovery and a sign-in endpoint.

Never mounted in production mode or when a real issuer is configured. The token endpoint
signs whatever username, role and agencies it is given: it exists so the quick start can
sign in, and is no substitute for an identity provider.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from search_api.access.dependencies import get_access
from search_api.access.principal import Role
from search_api.access.tokens import DevIssuer, principal_from_claims
from search_api.audit.log import AuditEvent, append_committed, client_ip

router = APIRouter(tags=["development issuer"])

_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,100}$")
_AGENCY = re.compile(r"^[A-Z0-9_-]{2,32}$")


def _issuer(request: Request) -> DevIssuer:
    dev = get_access(request).dev_issuer
    if dev is None:  # pragma: no cover - the router is only mounted with a dev issuer
        raise HTTPException(404)
    return dev


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/dev-issuer/.well-known/jwks.json", summary="Development issuer's public keys")
def jwks(request: Request) -> dict[str, Any]:
    return _issuer(request).jwks()


@router.get("/.well-known/openid-configuration", summary="Development issuer discovery")
@router.get("/dev-issuer/.well-known/openid-configuration", include_in_schema=False)
def openid_configuration(request: Request) -> dict[str, Any]:
    dev, base = _issuer(request), _base(request)
    return {
        "issuer": dev.issuer,
        "jwks_uri": f"{base}/dev-issuer/.well-known/jwks.json",
        "token_endpoint": f"{base}/dev-issuer/token",
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "claims_supported": ["sub", "name", "roles", "agencies"],
    }


def _listify(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(_listify(item))
        return out
    raise HTTPException(422, "expected a string or a list of strings")


_TOKEN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": {
                "type": "object", "required": ["username", "role"],
                "properties": {
                    "username": {"type": "string", "pattern": _USERNAME.pattern},
                    "name": {"type": "string", "maxLength": 200},
                    "role": {"type": "string", "enum": [r.value for r in Role],
                             "description": "one role, or several comma-separated"},
                    "agencies": {"type": "string",
                                 "description": "comma-separated agency codes; '*' or "
                                                "omitted for every agency"},
                }}}
            for media in ("application/json", "application/x-www-form-urlencoded")
        },
    }
}


@router.post("/dev-issuer/token", summary="Development sign-in: a signed token for anyone",
             openapi_extra=_TOKEN_BODY)
async def token(request: Request) -> dict[str, Any]:
    dev = _issuer(request)
    content_type = request.headers.get("content-type", "")
    data: dict[str, Any]
    if content_type.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(422, "body is not JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(422, "expected a JSON object")
        data = body
    else:
        form = await request.form()
        data = {key: (form.getlist(key) if len(form.getlist(key)) > 1 else form.get(key))
                for key in form}
    username = data.get("username")
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise HTTPException(422, "username: 1-100 letters, digits or . _ @ -")
    role_names = _listify(data.get("role")) + _listify(data.get("roles"))
    known = {r.value for r in Role}
    if not role_names or any(r not in known for r in role_names):
        raise HTTPException(422, {"msg": "role: give one or more known roles",
                                  "roles": sorted(known)})
    agency_codes = _listify(data.get("agencies")) + _listify(data.get("agency"))
    agencies: list[str] | None
    if not agency_codes or "*" in agency_codes:
        agencies = None
    else:
        agencies = sorted({a.upper() for a in agency_codes})
        if any(not _AGENCY.match(a) for a in agencies):
            raise HTTPException(422, "agencies: agency codes are 2-32 of A-Z 0-9 _ -")
    name = data.get("name")
    display = name.strip()[:200] if isinstance(name, str) and name.strip() else None
    access_token, lifetime = dev.sign(username, sorted(set(role_names)), agencies, display)
    principal = principal_from_claims(
        {"sub": username, "name": display or username, "roles": role_names,
         "agencies": ["*"] if agencies is None else agencies},
        get_access(request).sealed_roles)
    await run_in_threadpool(
        append_committed, request.app.state.casesearch.engine, event=AuditEvent.sign_in,
        principal=principal, client_ip=client_ip(request), detail={"issuer": "development"})
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": lifetime}
