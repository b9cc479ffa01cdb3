"""``/admin/config``: which tenants configuration is active, and why the last change was refused, if it was."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cozegate.gateway.admin_auth import Authenticator, admin_endpoint
from cozegate.tenants.reload import TenantsFileReloader


def config_routes(reloader: TenantsFileReloader, auth: Authenticator) -> list[Route]:
    async def status(request: Request, actor: str) -> Response:
        return JSONResponse(reloader.status.as_json())

    async def reload_now(request: Request, actor: str) -> Response:
        applied = await reloader.reload()
        return JSONResponse({"applied": applied, **reloader.status.as_json()})

    return [
        Route("/admin/config", admin_endpoint(status, auth), methods=["GET"]),
        Route("/admin/config/reload", admin_endpoint(reload_now, auth), methods=["POST"]),
    ]
