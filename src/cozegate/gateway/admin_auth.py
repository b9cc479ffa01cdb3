"""Admin API authentication: a bearer token compared in constant time.

JWT/JWKS auth with roles replaces this in the gateway issue; the contract (401 with the project's
error body, an actor name for the audit log) stays.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr
from starlette.requests import Request


class AdminAuthError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def admin_actor(request: Request, token: SecretStr | None) -> str:
    """Return the actor name of a valid admin request or raise ``AdminAuthError``."""
    if token is None:
        raise AdminAuthError("the admin API is disabled: set COZEGATE_ADMIN_TOKEN to enable it")
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise AdminAuthError("send `Authorization: Bearer <admin token>`")
    if not hmac.compare_digest(presented.encode(), token.get_secret_value().encode()):
        raise AdminAuthError("the admin token is not valid")
    return "admin-token"
