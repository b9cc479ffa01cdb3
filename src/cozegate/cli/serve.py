"""Run the ASGI app under the configured HTTP server."""

from __future__ import annotations

import os

from cozegate.observability.multiprocess import prepare_multiprocess_dir
from cozegate.settings import Settings

APP_FACTORY = "cozegate.app:app_from_environment"


class ProcessesNeedSharedBackendsError(ValueError):
    pass


def check_processes(settings: Settings) -> None:
    """Several processes share one inbox, cache and rate limits only through PostgreSQL and Redis."""
    if settings.processes == 1:
        return
    missing = []
    if settings.is_sqlite:
        missing.append("COZEGATE_DATABASE_URL (PostgreSQL)")
    if settings.redis_url is None:
        missing.append("COZEGATE_REDIS_URL")
    if missing:
        raise ProcessesNeedSharedBackendsError(
            f"COZEGATE_PROCESSES={settings.processes} needs {' and '.join(missing)}: the embedded database, cache "
            "and rate limits belong to one process. Set them, or run one process (COZEGATE_PROCESSES=1)."
        )


def run_server(settings: Settings) -> None:
    check_processes(settings)
    # The server builds the app in its own worker from the environment; pass CLI overrides through it.
    os.environ["COZEGATE_HOST"] = settings.host
    os.environ["COZEGATE_PORT"] = str(settings.port)
    if settings.processes > 1:  # before any worker imports prometheus_client
        prepare_multiprocess_dir(settings.state_dir / "metrics")
    if settings.server == "granian":
        import multiprocessing

        from granian import Granian
        from granian.constants import Interfaces, Loops

        # Granian forks its workers by default: they would inherit this process's prometheus_client,
        # imported before PROMETHEUS_MULTIPROC_DIR was set. Fresh interpreters read it (uvicorn's too).
        multiprocessing.set_start_method("spawn", force=True)

        Granian(
            APP_FACTORY,
            factory=True,
            address=settings.host,
            port=settings.port,
            interface=Interfaces.ASGI,
            loop=Loops.uvloop,
            workers=settings.processes,
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
            workers=settings.processes,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
