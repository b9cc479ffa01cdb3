"""``/metrics`` in the Prometheus text format: this process's registry, or, with several server processes
(``PROMETHEUS_MULTIPROC_DIR`` set), every process's values summed."""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cozegate.observability.metrics import REGISTRY


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # reads every process's files: some disk work, off the event loop
        return generate_latest(registry)
    return generate_latest(REGISTRY)


async def _metrics(_: Request) -> Response:
    body = await run_in_threadpool(exposition) if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else exposition()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def metrics_routes() -> list[Route]:
    return [Route("/metrics", _metrics, methods=["GET"])]
