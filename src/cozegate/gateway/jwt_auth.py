"""JWT bearer tokens from the enterprise IAM, verified with PyJWT against a JWKS URL or static keys.

Accepted: RS256, ES256 and EdDSA (configurable), with ``iss``, ``aud``, ``exp`` and ``sub`` required and
``nbf`` honoured, within a small leeway. Keys are cached by ``kid``; a token with an unknown ``kid``
makes the cache refresh from the JWKS URL, at most once per ``refresh_interval`` seconds, so a flood
of made-up kids cannot turn into a flood of requests to the IAM. Claims map to the caller: the
tenant (``tenant_claim``) and roles (``roles_claim``: a list, or a space-separated string).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt

log = logging.getLogger(__name__)

DEFAULT_ALGORITHMS = ("RS256", "ES256", "EdDSA")
KEYS_MAX_AGE_SECONDS = 3600.0  # keys are re-read at least this often, so a revoked key stops verifying


class AuthError(Exception):
    """401: no credentials, or credentials that do not prove who the caller is."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant: str | None
    roles: frozenset[str]
    workspace: str | None = None  # a Coze workspace id, mapped to the tenant that lists it

    @property
    def actor(self) -> str:
        """How the audit log names the caller (``jwt:`` so no token subject can pass for the admin token)."""
        return f"jwt:{self.subject}"

    @property
    def is_global_admin(self) -> bool:
        """The admin role without a tenant: the whole gateway. With a tenant, an admin is a user of it."""
        return "admin" in self.roles and self.tenant is None and self.workspace is None

    def has_role(self, role: str) -> bool:
        if role == "admin":
            return self.is_global_admin
        return role in self.roles or "admin" in self.roles


class JwtVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        keys_file: Path | None = None,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        leeway_seconds: float = 30.0,
        tenant_claim: str = "tenant",
        roles_claim: str = "roles",
        workspace_claim: str = "workspace_id",
        refresh_interval: float = 60.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if (jwks_url is None) == (keys_file is None):
            raise ValueError("configure exactly one of a JWKS URL and a keys file")
        self.issuer, self.audience = issuer, audience
        self._jwks_url = jwks_url
        self._algorithms = tuple(algorithms)
        self._leeway = leeway_seconds
        self._tenant_claim, self._roles_claim, self._workspace_claim = tenant_claim, roles_claim, workspace_claim
        self._refresh_interval = refresh_interval
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(5.0))
        self._keys: dict[str, jwt.PyJWK] = {}
        self._refreshed_at = float("-inf")
        self._refresh_lock = asyncio.Lock()
        if keys_file is not None:
            self._keys = _parse_jwks(json.loads(keys_file.read_text(encoding="utf-8")))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise AuthError("malformed_token", "the bearer token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self._algorithms:
            raise AuthError("unsupported_algorithm", f"tokens must be signed with one of {list(self._algorithms)}")
        key = await self._key(header.get("kid"))
        if key.algorithm_name != algorithm:
            raise AuthError("bad_signature", "the token's algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token_expired", "the token has expired; get a new one") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token_not_yet_valid", "the token is not valid yet (nbf/iat in the future)") from None
        except jwt.InvalidIssuerError:
            raise AuthError("wrong_issuer", f"the token was not issued by {self.issuer}") from None
        except jwt.InvalidAudienceError:
            raise AuthError("wrong_audience", f"the token is not meant for {self.audience}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError("missing_claim", f"the token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthError("bad_signature", "the token's signature does not verify") from None
        except jwt.PyJWTError:
            raise AuthError("malformed_token", "the token could not be read") from None
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        roles = claims.get(self._roles_claim, [])
        if isinstance(roles, str):
            roles = roles.split()
        tenant, workspace = claims.get(self._tenant_claim), claims.get(self._workspace_claim)
        if not str(claims["sub"]).strip():
            raise AuthError("missing_claim", "the token's `sub` is empty")
        return Principal(
            subject=str(claims["sub"]),
            tenant=str(tenant) if tenant is not None else None,
            roles=frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset(),
            workspace=str(workspace) if workspace is not None else None,
        )

    async def _key(self, kid: Any) -> jwt.PyJWK:
        if not isinstance(kid, str) or not kid:
            raise AuthError("unknown_key", "the token names no key (kid)")
        stale = time.monotonic() - self._refreshed_at > KEYS_MAX_AGE_SECONDS
        if self._jwks_url is not None and (kid not in self._keys or stale):
            await self._refresh()  # unknown kid, or keys held too long: a key the IAM revoked must go
        key = self._keys.get(kid)
        if key is None:
            raise AuthError("unknown_key", f"no key {kid!r} is known; the IAM may have rotated, try again shortly")
        return key

    async def _refresh(self) -> None:
        async with self._refresh_lock:
            if time.monotonic() - self._refreshed_at < self._refresh_interval:
                return  # refreshed a moment ago: an unknown kid now is not worth another request
            self._refreshed_at = time.monotonic()
            assert self._jwks_url is not None
            try:
                response = await self._http.get(self._jwks_url)
                response.raise_for_status()
                self._keys = _parse_jwks(response.json())
            except (httpx.HTTPError, ValueError):
                return  # keep the keys we have; the next unknown kid after the interval tries again
            except Exception:
                log.exception("the JWKS at %s could not be read; keeping the keys held", self._jwks_url)


def _parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    entries = document.get("keys", []) if isinstance(document, dict) else []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not entry.get("kid") or entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue  # a key type or algorithm we do not accept
    return keys
