"""API keys for applications: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from search_api.access.principal import DEFAULT_SEALED_ROLES, Principal, PrincipalKind, Role
from search_api.access.tables import ApiKeyRow

KEY_PREFIX = "csk_"
_KEY_RE = re.compile(r"^csk_[A-Za-z0-9_-]{40,60}$")
_AGENCY_RE = re.compile(r"^[A-Z0-9_-]{2,32}$")


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def looks_like_api_key(raw: str) -> bool:
    return bool(_KEY_RE.match(raw))


def create_api_key(session: Session, *, name: str, role: Role | str,
                   agencies: Iterable[str] | None,
                   created_by: str | None = None) -> tuple[ApiKeyRow, str]:
    """Store a new key and return (row, the key itself). The key is not kept anywhere."""
    role = Role(role)
    name = name.strip()
    if not name or len(name) > 200:
        raise ValueError("name must be 1-200 characters")
    codes = None if agencies is None else sorted({a.strip().upper() for a in agencies})
    if codes is not None:
        if not codes:
            raise ValueError("give at least one agency, or all agencies")
        bad = [c for c in codes if not _AGENCY_RE.match(c)]
        if bad:
            raise ValueError(f"bad agency code {bad[0]!r}")
    raw = generate_api_key()
    row = ApiKeyRow(name=name, role=str(role), agencies=codes, key_hash=hash_api_key(raw),
                    prefix=raw[:12], created_by=created_by)
    session.add(row)
    session.flush()
    return row, raw


def revoke_api_key(session: Session, key_id: int) -> ApiKeyRow | None:
    """Revoke a key (idempotent); None if there is no such key."""
    row = session.get(ApiKeyRow, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = dt.datetime.now(dt.UTC)
        session.flush()
    return row


def list_api_keys(session: Session) -> list[ApiKeyRow]:
    return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)))


def principal_for_api_key(session: Session, raw: str,
                          sealed_roles: frozenset[Role] = DEFAULT_SEALED_ROLES
                          ) -> Principal | None:
    """The application's principal for a presented key, or None (unknown or revoked)."""
    if not looks_like_api_key(raw):
        return None
    row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_api_key(raw))
                          ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    agencies = None if row.agencies is None else frozenset(str(a) for a in row.agencies)
    return Principal(subject=f"apikey:{row.id}", display_name=row.name,
                     kind=PrincipalKind.service, roles=frozenset({Role(row.role)}),
                     agencies=agencies, sealed_roles=sealed_roles, auth=f"apikey:{row.id}")
