"""A plugin server on its own (``cozegate plugins serve``): the plugins, ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from cozegate.observability.metrics_route import metrics_routes
from cozegate.plugins.plugin import Plugin
from cozegate.plugins.server import PluginServer, is_plugin_path


class PluginApp:
    """Plugin calls go straight to the bare ASGI ``PluginServer``; the rest to a small Starlette app."""

    def __init__(self, plugins: Iterable[Plugin]) -> None:
        self.server = PluginServer(plugins)

        async def healthz(_: Request) -> Response:
            return JSONResponse({"status": "ok", "plugins": sorted(self.server.plugins)})

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            self.server.check_ready()
            try:
                yield
            finally:
                self.server.close()

        self._framework = Starlette(
            routes=[Route("/healthz", healthz, methods=["GET"]), *metrics_routes()], lifespan=lifespan
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_plugin_path(scope["path"]):
            await self.server(scope, receive, send)  # type: ignore[arg-type]
        else:
            await self._framework(scope, receive, send)
