"""The console's login session, CSRF tokens and flash messages: stateless, signed (itsdangerous,
timestamped) with a key derived from the admin token, so rotating the token logs every console user out.

A session cookie carries a random nonce and its signing time; its CSRF token is an HMAC of the cookie,
so it is only known to pages rendered for that session. Every comparison is constant-time; the admin
token itself is never stored in the cookie, logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from pydantic import SecretStr

SESSION_COOKIE = "cozegate_console"
FLASH_COOKIE = "cozegate_console_flash"
COOKIE_PATH = "/console"
SESSION_SECONDS = 8 * 3600
FLASH_SECONDS = 60
_KEY_LABEL = b"cozegate console session v1"
_SESSION_SALT = "cozegate.console.session"
_FLASH_SALT = "cozegate.console.flash"


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session: when it ends, and its CSRF token."""

    expires_at: int
    csrf: str
    nonce: str  # names the session (logging out revokes it)


@dataclass(frozen=True, slots=True)
class Flash:
    kind: str  # "ok" or "error"
    message: str


def _serializer(key: bytes, clock: Callable[[], float]) -> URLSafeTimedSerializer:
    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return URLSafeTimedSerializer(key, signer=ClockSigner)


class ConsoleSessions:
    """Issues and verifies session cookies. Without an admin token nothing verifies (the console is off)."""

    def __init__(
        self,
        admin_token: SecretStr | None,
        *,
        lifetime_seconds: int = SESSION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        token = admin_token.get_secret_value() if admin_token is not None else None
        self._token = token.encode() if token else None
        self._key = hmac.new(self._token, _KEY_LABEL, hashlib.sha256).digest() if self._token else None
        self._signed = _serializer(self._key, clock) if self._key else None
        self._lifetime = lifetime_seconds

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def token_matches(self, presented: str) -> bool:
        """Constant-time comparison of a presented token with the admin token."""
        if self._token is None or not presented:
            return False
        return hmac.compare_digest(presented.encode(), self._token)

    def issue(self) -> str:
        """A new session cookie value, valid for the session lifetime."""
        assert self._signed is not None
        return str(self._signed.dumps({"n": secrets.token_hex(16)}, salt=_SESSION_SALT))

    def verify(self, cookie: str | None) -> Session | None:
        """The session of a cookie value; None if it is missing, forged, from another token or expired."""
        if self._signed is None or self._key is None or not cookie:
            return None
        try:
            data, signed_at = self._signed.loads(
                cookie, max_age=self._lifetime, return_timestamp=True, salt=_SESSION_SALT
            )
        except BadSignature:
            return None
        nonce = data.get("n") if isinstance(data, dict) else None
        if not isinstance(nonce, str) or not nonce:
            return None
        csrf = hmac.new(self._key, b"csrf|" + cookie.encode(), hashlib.sha256).hexdigest()
        return Session(int(signed_at.timestamp()) + self._lifetime, csrf, nonce)

    @staticmethod
    def csrf_matches(session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(session.csrf.encode(), str(presented).encode())

    def flash_cookie(self, flash: Flash) -> str:
        """A signed flash message for the next page (so a link cannot make the console say anything)."""
        assert self._signed is not None
        return str(self._signed.dumps({"k": flash.kind, "m": flash.message}, salt=_FLASH_SALT))

    def read_flash(self, cookie: str | None) -> Flash | None:
        if self._signed is None or not cookie:
            return None
        try:
            data: Any = self._signed.loads(cookie, max_age=FLASH_SECONDS, salt=_FLASH_SALT)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        return Flash(str(data.get("k", "ok")), str(data.get("m", "")))
