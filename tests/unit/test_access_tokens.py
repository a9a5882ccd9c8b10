"""Bearer-token validation: the development issuer, and a real OIDC issuer's JWKS over HTTP.

Expired tokens, a wrong audience or issuer, a key the issuer does not publish, ``alg: none``
and HMAC-with-the-public-key are all refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm

from search_api.access.principal import PrincipalKind, Role
from search_api.access.tokens import (
    DevIssuer,
    TokenError,
    TokenValidator,
    principal_from_claims,
)

AUD = "casesearch"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    return DevIssuer.load_or_create(tmp_path_factory.mktemp("data"),
                                    "http://127.0.0.1:8000/dev-issuer", AUD)


def claims(issuer: str, **overrides: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    base = {"iss": issuer, "aud": AUD, "sub": "alice", "roles": ["duty_worker"],
            "agencies": ["SC"], "iat": now, "exp": now + dt.timedelta(minutes=5)}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_dev_issuer_key_is_created_once_and_private(tmp_path: Path) -> None:
    first = DevIssuer.load_or_create(tmp_path, "http://x/dev-issuer", AUD)
    second = DevIssuer.load_or_create(tmp_path, "http://x/dev-issuer", AUD)
    key_file = tmp_path / "dev-issuer" / "signing-key.pem"
    assert first.kid == second.kid
    assert key_file.stat().st_mode & 0o077 == 0
    assert list((tmp_path / "dev-issuer").iterdir()) == [key_file]
    assert first.jwks() == {"keys": [first.public_jwk]}
    assert "d" not in first.public_jwk  # the public half only


def test_dev_token_round_trip(dev: DevIssuer) -> None:
    token, lifetime = dev.sign("bob", ["hub_analyst"], ["SC", "POL"], "Bob B")
    assert lifetime == 8 * 3600
    validator = TokenValidator(dev.issuer, AUD, dev_issuer=dev)
    verified = validator.validate(token)
    principal = principal_from_claims(verified)
    assert principal.subject == "bob" and principal.display_name == "Bob B"
    assert principal.roles == {Role.hub_analyst}
    assert principal.agencies == {"SC", "POL"}
    assert principal.kind is PrincipalKind.user
    everyone, _ = dev.sign("carol", ["records_admin"], None)
    assert principal_from_claims(validator.validate(everyone)).agencies is None


def test_expired_token_is_refused(dev: DevIssuer) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    token = jwt.encode(claims(dev.issuer, iat=past, exp=past + dt.timedelta(minutes=5)),
                       dev.private_key, algorithm="RS256", headers={"kid": dev.kid})
    with pytest.raises(TokenError, match="expired"):
        TokenValidator(dev.issuer, AUD, dev_issuer=dev).validate(token)


@pytest.mark.parametrize(("override", "words"), [
    ({"aud": "another-service"}, "audience"),
    ({"aud": None}, "invalid"),
    ({"iss": "https://evil.example/"}, "issuer"),
    ({"exp": None}, "invalid"),
    ({"sub": None}, "invalid"),
])
def test_wrong_or_missing_claims_are_refused(dev: DevIssuer, override: dict[str, Any],
                                             words: str) -> None:
    token = jwt.encode(claims(dev.issuer, **override), dev.private_key, algorithm="RS256",
                       headers={"kid": dev.kid})
    with pytest.raises(TokenError, match=words):
        TokenValidator(dev.issuer, AUD, dev_issuer=dev).validate(token)


def test_token_signed_by_another_key_is_refused(dev: DevIssuer) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims(dev.issuer), other, algorithm="RS256",
                        headers={"kid": dev.kid})
    with pytest.raises(TokenError, match="signature"):
        TokenValidator(dev.issuer, AUD, dev_issuer=dev).validate(forged)
    unknown_kid = jwt.encode(claims(dev.issuer), other, algorithm="RS256",
                             headers={"kid": "someone-else"})
    with pytest.raises(TokenError, match="unknown signing key"):
        TokenValidator(dev.issuer, AUD, dev_issuer=dev).validate(unknown_kid)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_alg_none_is_refused(dev: DevIssuer) -> None:
    body = {k: (int(v.timestamp()) if isinstance(v, dt.datetime) else v)
            for k, v in claims(dev.issuer).items()}
    unsigned = ".".join([_b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()),
                         _b64(json.dumps(body).encode()), ""])
    with pytest.raises(TokenError, match="algorithm not allowed"):
        TokenValidator(dev.issuer, AUD, dev_issuer=dev).validate(unsigned)


def test_hmac_signed_with_the_public_key_is_refused(dev: DevIssuer) -> None:
    # The classic key-confusion attack: HS256 keyed with the issuer's public PEM.
    pem = dev.public_key.public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": dev.kid}).encode())
    body = {k: (int(v.timestamp()) if isinstance(v, dt.datetime) else v)
            for k, v in claims(dev.issuer).items()}
    import hashlib
    import hmac

    signing_input = header + "." + _b64(json.dumps(body).encode())
    sig = _b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())
    with pytest.raises(TokenError, match="algorithm not allowed"):
        TokenValidator(dev.issuer, AUD, dev_issuer=dev).validate(signing_input + "." + sig)


def test_garbage_is_refused(dev: DevIssuer) -> None:
    for token in ("", "abc", "a.b.c", "x" * 5000):
        with pytest.raises(TokenError):
            TokenValidator(dev.issuer, AUD, dev_issuer=dev).validate(token)


# --- a real OIDC issuer: discovery + JWKS served over HTTP, ES256 keys ---------------------

class _Issuer:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "ES256"}]}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/realms/test"
        self.requests: list[str] = []

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                issuer.requests.append(self.path)
                if self.path == "/realms/test/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/certs"}
                elif self.path == "/realms/test/certs":
                    body = issuer.jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def issuer() -> Iterator[_Issuer]:
    running = _Issuer()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_oidc_issuer_discovery_and_es256(issuer: _Issuer) -> None:
    validator = TokenValidator(issuer.url, AUD)
    token = jwt.encode(claims(issuer.url, roles="hub_analyst reviewer", agencies="*"),
                       issuer.key, algorithm="ES256", headers={"kid": "k1"})
    principal = principal_from_claims(validator.validate(token))
    assert principal.roles == {Role.hub_analyst, Role.reviewer}
    assert principal.agencies is None
    assert issuer.requests[0].endswith("/.well-known/openid-configuration")
    # Keys are cached: a second token does not fetch again.
    before = len(issuer.requests)
    validator.validate(token)
    assert len(issuer.requests) == before


def test_oidc_issuer_refuses_unpublished_keys_and_other_audiences(issuer: _Issuer) -> None:
    validator = TokenValidator(issuer.url, AUD, jwks_url=issuer.url + "/certs")
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(TokenError):
        validator.validate(jwt.encode(claims(issuer.url), stranger, algorithm="ES256",
                                      headers={"kid": "k2"}))
    with pytest.raises(TokenError, match="signature"):
        validator.validate(jwt.encode(claims(issuer.url), stranger, algorithm="ES256",
                                      headers={"kid": "k1"}))
    with pytest.raises(TokenError, match="audience"):
        validator.validate(jwt.encode(claims(issuer.url, aud="x"), issuer.key,
                                      algorithm="ES256", headers={"kid": "k1"}))
    # ES384 is not on the allow-list even when the signature would verify.
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(TokenError, match="algorithm not allowed"):
        validator.validate(jwt.encode(claims(issuer.url), p384, algorithm="ES384",
                                      headers={"kid": "k1"}))


def test_claims_map_to_a_principal_failing_closed() -> None:
    p = principal_from_claims({"sub": "x", "roles": ["duty_worker", "god", 7]})
    assert p.roles == {Role.duty_worker}
    assert p.agencies == frozenset()  # no agencies claim: no agency in scope
    p = principal_from_claims({"sub": "x", "preferred_username": "xavier",
                               "roles": "auditor", "agencies": "SC,POL"})
    assert p.display_name == "xavier" and p.agencies == {"SC", "POL"}
