"""A plugin server on its own (``cozegate plugins serve``): the plugins, ``/healthz`` and ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cozegate.kernel.assembly import AssembledApp, Assembly
from cozegate.kernel.feature import Feature
from cozegate.observability.metrics_route import metrics_routes
from cozegate.plugins.feature import plugin_server_feature
from cozegate.plugins.plugin import Plugin


def plugin_app(plugins: Iterable[Plugin]) -> AssembledApp:
    plugins = list(plugins)
    names = sorted(plugin.name for plugin in plugins)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "plugins": names})

    service = Feature("service", routes=[Route("/healthz", healthz, methods=["GET"]), *metrics_routes()])
    return AssembledApp(Assembly([service, plugin_server_feature(plugins)]))
