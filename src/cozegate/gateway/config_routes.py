"""``/admin/config`` and ``/admin/tenants``: which tenants configuration is in force (and why the last
change was refused, if it was); with the database source, read and replace the configuration."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cozegate.gateway.admin_auth import Authenticator, admin_endpoint
from cozegate.http.errors import error_response
from cozegate.http.request_context import request_id_of
from cozegate.tenants.database_source import InvalidConfigError, TenantsDatabaseSource
from cozegate.tenants.reload import TenantsFileReloader

MASKED = "***"


def config_routes(
    reloader: TenantsFileReloader | None, database: TenantsDatabaseSource | None, auth: Authenticator
) -> list[Route]:
    def status_json() -> dict[str, Any]:
        source = database.status if database is not None else reloader.status if reloader is not None else None
        return source.as_json() if source is not None else {}

    async def status(request: Request, actor: str) -> Response:
        return JSONResponse(status_json())

    async def reload_now(request: Request, actor: str) -> Response:
        applied = await (database.refresh() if database is not None else reloader.reload() if reloader else _no())
        return JSONResponse({"applied": applied, **status_json()})

    async def read_tenants(request: Request, actor: str) -> Response:
        if database is None:
            return _file_mode(request)
        return JSONResponse(_mask_secrets(await database.document()))

    async def replace_tenants(request: Request, actor: str) -> Response:
        if database is None:
            return _file_mode(request)
        try:
            document = json.loads(await request.body())
        except ValueError:
            raise ValueError('send the tenants document as JSON: {"tenants": {...}}') from None
        try:
            version = await database.change(document, actor=actor, request_id=request_id_of(request))
        except InvalidConfigError as exc:
            return error_response(
                422, "invalid_config", f"refused, nothing changed: {exc.reason}", request_id_of(request)
            )
        return JSONResponse({"status": "applied", "version": str(version)})

    return [
        Route("/admin/config", admin_endpoint(status, auth), methods=["GET"]),
        Route("/admin/config/reload", admin_endpoint(reload_now, auth), methods=["POST"]),
        Route("/admin/tenants", admin_endpoint(read_tenants, auth), methods=["GET"]),
        Route("/admin/tenants", admin_endpoint(replace_tenants, auth), methods=["PUT"]),
    ]


async def _no() -> bool:
    return False


def _file_mode(request: Request) -> Response:
    message = "tenants come from the tenants file here (COZEGATE_TENANTS_SOURCE=file): edit the file"
    return error_response(409, "file_source", message, request_id_of(request))


def _mask_secrets(node: Any, parent: str = "") -> Any:
    """Secret values never leave in API output (references such as env or file names do)."""
    if isinstance(node, dict):
        return {k: MASKED if k == "value" and parent in ("secrets", "reply_secret", "token") else _mask_secrets(v, k)
                for k, v in node.items()}  # fmt: skip
    if isinstance(node, list):
        return [_mask_secrets(item, parent) for item in node]
    return node
