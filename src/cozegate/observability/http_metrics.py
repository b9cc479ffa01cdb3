"""Request count and latency of every HTTP request, labelled by route group (a fixed table: the path's
own words never become a label value, so the number of series is bounded)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cozegate.observability import metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ROUTE_GROUPS: tuple[tuple[str, str], ...] = (
    ("/webhooks/", "webhook"),
    ("/coze/webhook", "webhook"),
    ("/plugins/", "plugin"),
    ("/v1/chat", "chat"),
    ("/v1/knowledge", "knowledge"),
    ("/v1/", "api"),
    ("/retrieval", "retrieval"),
    ("/admin/", "admin"),
    ("/console", "console"),
    ("/metrics", "metrics"),
    ("/healthz", "health"),
    ("/readyz", "health"),
    ("/_coze_sim", "simulator"),
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CLIENT_CLOSED = 499  # nginx's code for a request whose client left before any answer


@functools.lru_cache(maxsize=4096)
def route_group(path: str) -> str:
    for prefix, group in ROUTE_GROUPS:
        if path.startswith(prefix):
            return group
    return "other"


class HttpMetrics:
    """ASGI middleware: ``cozegate_http_requests_total{route,method,code}`` and
    ``cozegate_http_request_duration_seconds{route}`` (arrival to the last byte, streams included)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._requests = functools.cache(metrics.HTTP_REQUESTS.labels)
        self._seconds = functools.cache(metrics.HTTP_REQUEST_SECONDS.labels)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = CLIENT_CLOSED

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        except asyncio.CancelledError:  # the client left or the server is stopping: not a server error
            raise
        except BaseException:
            status = 500 if status == CLIENT_CLOSED else status
            raise
        finally:
            route = route_group(scope["path"])
            method = scope["method"] if scope["method"] in METHODS else "other"
            self._requests(route, method, str(status)).inc()
            self._seconds(route).observe(time.perf_counter() - started)
