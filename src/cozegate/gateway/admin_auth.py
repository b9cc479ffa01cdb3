"""Who is calling the APIs, and may they: the admin token (break-glass) or a JWT from the enterprise IAM.

401 (with ``WWW-Authenticate: Bearer``) when the caller is not proven; 403 when a proven caller lacks
the role or asks for another tenant. Both with the project's error body.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
from collections.abc import Awaitable, Callable

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from cozegate.gateway.jwt_auth import AuthError, JwtVerifier, Principal
from cozegate.http.errors import error_response
from cozegate.http.request_context import request_id_of

log = logging.getLogger(__name__)

AdminHandler = Callable[[Request, str], Awaitable[Response]]
UserHandler = Callable[[Request, Principal], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class _AdminTokenPrincipal(Principal):
    @property
    def actor(self) -> str:
        return "admin-token"


ADMIN_TOKEN_PRINCIPAL = _AdminTokenPrincipal(subject="admin-token", tenant=None, roles=frozenset({"admin"}))


class ForbiddenError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Authenticator:
    def __init__(
        self,
        admin_token: SecretStr | None,
        jwt: JwtVerifier | None = None,
        tenant_of_workspace: Callable[[str], str | None] = lambda _: None,
    ) -> None:
        self._admin_token = admin_token
        self._jwt = jwt
        self._tenant_of_workspace = tenant_of_workspace

    async def principal(self, request: Request) -> Principal:
        if self._admin_token is None and self._jwt is None:
            raise AuthError(
                "unauthorized", "the API is disabled: set COZEGATE_ADMIN_TOKEN or COZEGATE_JWT_* to enable it"
            )
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise AuthError("unauthorized", "send `Authorization: Bearer <token>`")
        token = self._admin_token.get_secret_value() if self._admin_token is not None else None
        if token is not None and hmac.compare_digest(presented.encode(), token.encode()):
            return ADMIN_TOKEN_PRINCIPAL
        if self._jwt is None or presented.count(".") != 2:
            raise AuthError("unauthorized", "the token is not valid")
        principal = await self._jwt.verify(presented)
        if principal.tenant is None and principal.workspace is not None:
            principal = dataclasses.replace(principal, tenant=self._tenant_of_workspace(principal.workspace))
        return principal


def tenant_allowed(principal: Principal, tenant: str) -> None:
    """Raise ``ForbiddenError`` unless the caller may act for ``tenant`` (global admins may act for all)."""
    if not principal.is_global_admin and principal.tenant != tenant:
        raise ForbiddenError("forbidden_tenant", f"this token may not read or change tenant {tenant!r}")


def _guard(auth: Authenticator, role: str, call: Callable[[Request, Principal], Awaitable[Response]]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        rid = request_id_of(request)
        try:
            principal = await auth.principal(request)
        except AuthError as exc:
            return error_response(401, exc.code, exc.message, rid, headers={"www-authenticate": "Bearer"})
        if not principal.has_role(role):
            needs = "the admin role without a tenant claim" if role == "admin" else f"the {role!r} role"
            return error_response(403, "forbidden_role", f"this needs {needs}", rid)
        try:
            return await call(request, principal)
        except ForbiddenError as exc:
            return error_response(403, exc.code, exc.message, rid)
        except LookupError as exc:
            return error_response(404, getattr(exc, "code", "not_found"), str(exc), rid)
        except ValueError as exc:
            return error_response(400, "bad_request", str(exc), rid)
        except Exception:
            log.exception("request failed", extra={"path": request.url.path})
            return error_response(500, "internal_error", f"the server failed; its logs name request {rid}", rid)

    return endpoint


def admin_endpoint(handler: AdminHandler, auth: Authenticator) -> Endpoint:
    """``handler(request, actor)`` for callers with the admin role; 401/403/404/400 as the project's errors."""
    return _guard(auth, "admin", lambda request, principal: handler(request, principal.actor))


def user_endpoint(handler: UserHandler, auth: Authenticator) -> Endpoint:
    """``handler(request, principal)`` for callers with the user (or admin) role; the handler checks the tenant."""
    return _guard(auth, "user", handler)
