"""Admin API authentication: a bearer token compared in constant time.

JWT/JWKS auth with roles replaces this in the gateway issue; the contract (401 with the project's
error body, an actor name for the audit log) stays.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from cozegate.gateway.errors import error_response

AdminHandler = Callable[[Request, str], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


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


def request_id_of(request: Request) -> str:
    """The request id ``RequestIdMiddleware`` put on the scope."""
    return str(request.scope.get("state", {}).get("request_id", ""))


def admin_endpoint(handler: AdminHandler, token: SecretStr | None) -> Endpoint:
    """Wrap ``handler(request, actor)``: 401 without a valid token, 400 for ``ValueError``, 404 for
    ``LookupError`` (its ``code`` attribute, else ``not_found``), all with the project's error body."""

    async def endpoint(request: Request) -> Response:
        rid = request_id_of(request)
        try:
            actor = admin_actor(request, token)
        except AdminAuthError as exc:
            return error_response(401, "unauthorized", exc.message, rid, headers={"www-authenticate": "Bearer"})
        try:
            return await handler(request, actor)
        except LookupError as exc:
            return error_response(404, getattr(exc, "code", "not_found"), str(exc), rid)
        except ValueError as exc:
            return error_response(400, "bad_request", str(exc), rid)

    return endpoint
