"""Bearer tokens: the configured ones (personal/service tokens) and the access tokens the OAuth endpoint issued.

The OAuth JWT flow is checked on its claims only (no signature verification): the JWT must be well
formed, not expired, single-use (``jti``), from an accepted client (``iss``) and, if configured, addressed
to this host (``aud``: cozepy sends ``host[:port]`` of its base URL).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from dataclasses import dataclass
from typing import Any

from cozegate.coze.simulator.config import OAuthConfig
from cozegate.coze.simulator.envelopes import CozeCode, CozeError
from cozegate.coze.simulator.ids import Clock

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_DURATION_S = 86399


class OAuthError(Exception):
    """An OAuth failure, answered un-enveloped as ``{error_code, error_message}``."""

    def __init__(self, error_code: str, message: str, status: int = 400) -> None:
        self.error_code = error_code
        self.message = message
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int  # absolute Unix time, as Coze returns it


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Authenticator:
    def __init__(self, tokens: list[str], oauth: OAuthConfig, clock: Clock) -> None:
        self._tokens = set(tokens)
        self._oauth = oauth
        self._clock = clock
        self._issued: dict[str, int] = {}
        self._used_jtis: set[str] = set()
        self._serial = itertools.count(1)

    def check(self, authorization: str | None) -> None:
        """Raise the Coze 4100 error unless ``authorization`` carries an accepted, unexpired bearer token."""
        token = bearer_token(authorization)
        if token is None:
            raise CozeError(CozeCode.AUTH_INVALID)
        if token in self._tokens:
            return
        expires = self._issued.get(token)
        if expires is None or self._clock.now() >= expires:
            raise CozeError(CozeCode.AUTH_INVALID)

    def exchange_jwt(self, authorization: str | None, body: dict[str, Any], host: str) -> IssuedToken:
        """The JWT-bearer grant: check the JWT's claims, then issue an access token."""
        if not self._oauth.enabled:
            raise OAuthError("unsupported_grant_type", "the OAuth flow is disabled in this scenario")
        if body.get("grant_type") != JWT_BEARER:
            raise OAuthError("unsupported_grant_type", f"grant_type {body.get('grant_type')!r} is not supported")
        token = bearer_token(authorization)
        if token is None:
            raise OAuthError("invalid_request", "missing JWT in the Authorization header", 401)
        claims = self._claims(token, host)
        duration = body.get("duration_seconds") or 900
        if not isinstance(duration, int) or not 0 < duration <= MAX_DURATION_S:
            raise OAuthError("invalid_request", f"duration_seconds must be 1..{MAX_DURATION_S}")
        self._used_jtis.add(str(claims["jti"]))
        access_token = f"czs_sim_{next(self._serial):024x}"
        expires_in = self._clock.now() + duration
        self._issued[access_token] = expires_in
        return IssuedToken(access_token, expires_in)

    def _claims(self, jwt: str, host: str) -> dict[str, Any]:
        parts = jwt.split(".")
        if len(parts) != 3:
            raise OAuthError("invalid_request", "invalid jwt: not a JWS compact token", 401)
        header, claims = _b64_json(parts[0]), _b64_json(parts[1])
        if header.get("typ", "JWT") != "JWT" or not header.get("kid"):
            raise OAuthError("invalid_request", "invalid jwt: header needs typ JWT and a kid", 401)
        for claim in ("iss", "aud", "iat", "exp", "jti"):
            if claim not in claims:
                raise OAuthError("invalid_request", f"invalid jwt: missing claim {claim}", 401)
        if self._oauth.client_ids and claims["iss"] not in self._oauth.client_ids:
            raise OAuthError("invalid_client", f"invalid jwt: unknown client {claims['iss']!r}", 401)
        if self._oauth.check_audience and claims["aud"] != host:
            raise OAuthError("invalid_request", f"invalid jwt: aud {claims['aud']!r} is not {host!r}", 401)
        if not isinstance(claims["exp"], int) or claims["exp"] <= self._clock.now():
            raise OAuthError("invalid_request", "invalid jwt: expired", 401)
        if str(claims["jti"]) in self._used_jtis:
            raise OAuthError("invalid_request", "invalid jwt: jti already used", 401)
        return claims


def _b64_json(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise OAuthError("invalid_request", "invalid jwt: a segment is not base64url JSON", 401) from exc
    if not isinstance(value, dict):
        raise OAuthError("invalid_request", "invalid jwt: a segment is not a JSON object", 401)
    return value
