"""Run the ASGI app under the configured HTTP server."""

from __future__ import annotations

import os

from cozegate.settings import Settings

APP_FACTORY = "cozegate.app:app_from_environment"


def run_server(settings: Settings) -> None:
    # The server builds the app in its own worker from the environment; pass CLI overrides through it.
    os.environ["COZEGATE_HOST"] = settings.host
    os.environ["COZEGATE_PORT"] = str(settings.port)
    if settings.server == "granian":
        from granian import Granian
        from granian.constants import Interfaces, Loops

        Granian(
            APP_FACTORY,
            factory=True,
            address=settings.host,
            port=settings.port,
            interface=Interfaces.ASGI,
            loop=Loops.uvloop,
            workers=1,
            log_access=False,
            log_dictconfig=None,
            backlog=2048,
        ).serve()
    else:
        import uvicorn

        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_config=None,
            backlog=2048,
        )
