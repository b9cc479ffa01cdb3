"""``/metrics`` in the Prometheus text format: this process's registry, or, with several server processes
(``PROMETHEUS_MULTIPROC_DIR`` set before the processes start), every process's values summed."""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cozegate.observability.metrics import REGISTRY
from cozegate.observability.multiprocess import ENV


def metrics_routes() -> list[Route]:
    if os.environ.get(ENV):
        summed = CollectorRegistry()
        MultiProcessCollector(summed)  # type: ignore[no-untyped-call]

        async def metrics(_: Request) -> Response:
            # reads every process's files on each scrape: some disk work, off the event loop
            return Response(await run_in_threadpool(generate_latest, summed), media_type=CONTENT_TYPE_LATEST)

    else:

        async def metrics(_: Request) -> Response:
            return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
