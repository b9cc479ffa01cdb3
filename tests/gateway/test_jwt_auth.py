"""JWT verification with real signed tokens, a JWKS endpoint on loopback, key rotation and every
reason a token is refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import jwt
import pytest

from cozegate.gateway.jwt_auth import AuthError, JwtVerifier
from tests.support.jwks import AUDIENCE, ISSUER, JwksServer, SigningKey


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {alg: SigningKey(alg) for alg in ("RS256", "ES256", "EdDSA")}


@pytest.fixture
def jwks(keys: dict[str, SigningKey]) -> Iterator[JwksServer]:
    server = JwksServer(list(keys.values())).start()
    yield server
    server.stop()


@pytest.fixture
async def verifier(jwks: JwksServer) -> AsyncIterator[JwtVerifier]:
    v = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks.url, leeway_seconds=5, refresh_interval=0.2)
    yield v
    await v.aclose()


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
async def test_each_algorithm_verifies_and_maps_claims(
    verifier: JwtVerifier, keys: dict[str, SigningKey], algorithm: str
) -> None:
    token = keys[algorithm].token(sub="bob", tenant="shop", roles=["admin", "user"])
    principal = await verifier.verify(token)
    assert (principal.subject, principal.tenant, principal.roles) == ("bob", "shop", frozenset({"admin", "user"}))


async def test_roles_may_be_a_space_separated_string(verifier: JwtVerifier, keys: dict[str, SigningKey]) -> None:
    principal = await verifier.verify(keys["RS256"].token(roles="user auditor"))
    assert principal.roles == frozenset({"user", "auditor"})


async def refused(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(AuthError) as caught:
        await verifier.verify(token)
    return caught.value.code


async def test_every_rejection_reason_has_its_code(verifier: JwtVerifier, keys: dict[str, SigningKey]) -> None:
    rsa, ec = keys["RS256"], keys["ES256"]
    now = int(time.time())
    assert await refused(verifier, rsa.token(exp=now - 60)) == "token_expired"
    assert await refused(verifier, rsa.token(nbf=now + 600)) == "token_not_yet_valid"
    assert await refused(verifier, rsa.token(iss="https://evil.example")) == "wrong_issuer"
    assert await refused(verifier, rsa.token(aud="someone-else")) == "wrong_audience"
    assert await refused(verifier, rsa.token(sub=None)) == "missing_claim"
    assert await refused(verifier, rsa.token(exp=None)) == "missing_claim"
    assert await refused(verifier, rsa.token(kid="nobody-knows")) == "unknown_key"
    assert await refused(verifier, ec.token(kid=rsa.kid)) == "bad_signature"  # signed by another key
    header, payload, _ = rsa.token().split(".")
    forged = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": rsa.kid}).split(".")[2]
    assert await refused(verifier, f"{header}.{payload}.{forged}") == "bad_signature"
    hs = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 60}, "s" * 32, algorithm="HS256")
    assert await refused(verifier, hs) == "unsupported_algorithm"  # no HMAC with a public key as secret
    unsigned = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 60}, None, algorithm="none")
    assert await refused(verifier, unsigned) == "unsupported_algorithm"
    assert await refused(verifier, "not.a.jwt") == "malformed_token"
    assert await refused(verifier, rsa.token(sub="  ")) == "missing_claim"


async def test_a_small_leeway_forgives_clock_skew(verifier: JwtVerifier, keys: dict[str, SigningKey]) -> None:
    now = int(time.time())
    assert (await verifier.verify(keys["RS256"].token(exp=now - 2))).subject == "alice"
    assert (await verifier.verify(keys["RS256"].token(nbf=now + 2))).subject == "alice"


async def test_rotation_is_picked_up_on_an_unknown_kid(verifier: JwtVerifier, jwks: JwksServer) -> None:
    old = jwks.keys[0]
    assert (await verifier.verify(old.token())).subject == "alice"
    new = SigningKey("ES256")
    jwks.keys = [new]  # the IAM rotates: the old key is gone, a new one appears
    await asyncio.sleep(0.25)  # past the refresh interval
    assert (await verifier.verify(new.token())).subject == "alice"
    assert await refused(verifier, old.token()) == "unknown_key"


async def test_unknown_kids_refresh_the_keys_at_most_once_per_interval(
    keys: dict[str, SigningKey], jwks: JwksServer
) -> None:
    verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks.url, refresh_interval=3600)
    try:
        for i in range(50):
            assert await refused(verifier, keys["RS256"].token(kid=f"made-up-{i}")) == "unknown_key"
        assert jwks.requests == 1
    finally:
        await verifier.aclose()


async def test_static_keys_from_a_file(keys: dict[str, SigningKey], tmp_path: Path) -> None:
    import json

    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [keys["EdDSA"].public_jwk()]}))
    verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, keys_file=path)
    try:
        assert (await verifier.verify(keys["EdDSA"].token())).subject == "alice"
        assert await refused(verifier, keys["RS256"].token()) == "unknown_key"
    finally:
        await verifier.aclose()
