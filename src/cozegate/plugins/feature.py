"""Plugins in a running gateway: ``/plugins/{plugin}/{tool}`` (and each plugin's descriptions) as a hot
route; every plugin checked ready at start and its threads released at stop."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import Route

from cozegate.imports import load_object
from cozegate.kernel.feature import Feature
from cozegate.kernel.kernel import Kernel
from cozegate.plugins.plugin import Plugin
from cozegate.plugins.server import PLUGINS_PREFIX, PluginServer


def plugins_feature(kernel: Kernel) -> Feature:
    """The plugins ``COZEGATE_PLUGINS`` names."""
    return plugin_server_feature(load_object(spec, Plugin) for spec in kernel.settings.plugins)


def plugin_server_feature(plugins: Iterable[Plugin]) -> Feature:
    server = PluginServer(plugins)

    async def start() -> None:
        server.check_ready()

    async def stop() -> None:
        server.close()

    return Feature(
        "plugins",
        hot_routes=[Route(PLUGINS_PREFIX + "{path:path}", server)],
        start=start,
        stop=stop,
    )
