"""Bearer tokens: validation against an OIDC issuer's JWKS, and the development issuer.

Only RS256 and ES256 are accepted; issuer, audience and expiry are always checked. The
development issuer (embedded mode only) keeps an RSA key in ``<data_dir>/dev-issuer/`` and
signs tokens for the quick start; it is never used when a real issuer is configured.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWKClient
from jwt.algorithms import RSAAlgorithm

from search_api.access.principal import (
    DEFAULT_SEALED_ROLES,
    Principal,
    PrincipalKind,
    Role,
    parse_roles,
)

ALLOWED_ALGORITHMS = ["RS256", "ES256"]
DEV_TOKEN_LIFETIME = dt.timedelta(hours=8)
LEEWAY_SECONDS = 30


class TokenError(Exception):
    """A bearer token that must be refused. ``str()`` is a short, data-free reason."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an RSA public JWK (used as the key id)."""
    members = {k: jwk[k] for k in ("e", "kty", "n")}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


class DevIssuer:
    """The built-in development issuer: one RSA key, generated on first start."""

    def __init__(self, private_key: rsa.RSAPrivateKey, issuer: str, audience: str) -> None:
        self.private_key = private_key
        self.public_key = private_key.public_key()
        self.issuer = issuer
        self.audience = audience
        public_jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.public_key))
        self.kid = jwk_thumbprint(public_jwk)
        self.public_jwk = {**public_jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    @classmethod
    def load_or_create(cls, data_dir: Path, issuer: str, audience: str) -> DevIssuer:
        key_dir = data_dir / "dev-issuer"
        key_dir.mkdir(parents=True, exist_ok=True)
        path = key_dir / "signing-key.pem"
        if not path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            tmp = key_dir / f".signing-key.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            try:
                os.link(tmp, path)  # atomic; loses quietly to a concurrent first start
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{path} is not an RSA private key")
        return cls(loaded, issuer, audience)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    def sign(self, subject: str, roles: list[str], agencies: list[str] | None,
             name: str | None = None,
             lifetime: dt.timedelta = DEV_TOKEN_LIFETIME) -> tuple[str, int]:
        """A signed token and its lifetime in seconds. ``agencies=None`` means every agency."""
        now = dt.datetime.now(dt.UTC)
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": subject,
            "name": name or subject, "roles": roles,
            "agencies": ["*"] if agencies is None else agencies,
            "iat": now, "nbf": now, "exp": now + lifetime, "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self.private_key, algorithm="RS256",
                           headers={"kid": self.kid})
        return token, int(lifetime.total_seconds())


@dataclass
class TokenValidator:
    """Validates bearer tokens for one issuer (a real OIDC issuer or the dev issuer)."""

    issuer: str
    audience: str
    jwks_url: str | None = None
    dev_issuer: DevIssuer | None = None

    def __post_init__(self) -> None:
        self._client: PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks_client(self) -> PyJWKClient:
        with self._lock:
            if self._client is None:
                url = self.jwks_url or discover_jwks_url(self.issuer)
                self._client = PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)
            return self._client

    def _key_for(self, token: str, header: dict[str, Any]) -> Any:
        if self.dev_issuer is not None:
            if header.get("kid") not in (None, self.dev_issuer.kid):
                raise TokenError("unknown signing key")
            return self.dev_issuer.public_key
        try:
            client = self._jwks_client()
            if header.get("kid") is None:
                keys = client.get_signing_keys()
                if len(keys) != 1:
                    raise TokenError("token has no key id")
                return keys[0].key
            return client.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as exc:
            raise TokenError("signing key not found at the issuer") from exc
        except httpx.HTTPError as exc:
            raise TokenError("issuer discovery failed") from exc

    def validate(self, token: str) -> dict[str, Any]:
        """The verified claims, or TokenError."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenError("malformed token") from exc
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise TokenError("algorithm not allowed")
        key = self._key_for(token, header)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=ALLOWED_ALGORITHMS, audience=self.audience,
                issuer=self.issuer, leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError("wrong audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenError("wrong issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenError("bad signature") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError("invalid token") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise TokenError("token has no subject")
        return claims


def discover_jwks_url(issuer: str) -> str:
    """The ``jwks_uri`` from the issuer's OpenID configuration."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    response = httpx.get(url, timeout=5.0)
    response.raise_for_status()
    config = response.json()
    if config.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise TokenError("issuer discovery returned a different issuer")
    jwks_uri = config.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise TokenError("issuer discovery has no jwks_uri")
    return jwks_uri


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def principal_from_claims(claims: dict[str, Any],
                          sealed_roles: frozenset[Role] = DEFAULT_SEALED_ROLES) -> Principal:
    """A person's principal from verified claims.

    ``roles``: a list (or space-separated string) of role names; unknown names are ignored.
    ``agencies``: a list of agency codes, ``"*"`` for all; absent means none (fail closed).
    """
    roles = parse_roles(_as_list(claims.get("roles")))
    codes = _as_list(claims.get("agencies"))
    agencies = None if "*" in codes else frozenset(codes)
    subject = str(claims["sub"])
    name = claims.get("name") or claims.get("preferred_username") or subject
    return Principal(subject=subject, display_name=str(name)[:200], kind=PrincipalKind.user,
                     roles=roles, agencies=agencies, sealed_roles=sealed_roles, auth="jwt")
