"""Features put together: one route table, and start and stop order as data (features start in the
order given and stop in reverse; background loops start after the last start and are cancelled and
awaited before the first stop).

When a start fails, that feature and the ones before it are stopped (in reverse) before the error goes
on, so a half-started gateway releases what it took.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from cozegate.http.asgi import send_answer
from cozegate.http.errors import error_bytes
from cozegate.http.request_context import RequestIdMiddleware
from cozegate.http.request_ids import new_request_id
from cozegate.kernel.feature import BackgroundTask, Feature

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16_384  # names and values together, as most proxies (nginx: 4-8 KiB a line, 4 lines)
MAX_HEADERS = 100


@dataclass
class RunState:
    """Whether the gateway takes work: true between the last start and the first stop (``/readyz``)."""

    accepting: bool = False


@dataclass
class Assembly:
    features: Sequence[Feature]
    state: RunState = field(default_factory=RunState)
    on_ready: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        names = [feature.name for feature in self.features]
        doubled = sorted({name for name in names if names.count(name) > 1})
        if doubled:
            raise ValueError(f"features named twice: {doubled}")

    @property
    def start_order(self) -> list[str]:
        return [feature.name for feature in self.features if feature.start is not None]

    @property
    def stop_order(self) -> list[str]:
        return [feature.name for feature in reversed(self.features) if feature.stop is not None]

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        started: list[Feature] = []
        tasks: list[tuple[BackgroundTask, asyncio.Task[None]]] = []
        try:
            for feature in self.features:
                started.append(feature)
                if feature.start is not None:
                    await feature.start()
            for feature in self.features:
                for task in feature.tasks:
                    tasks.append((task, asyncio.create_task(task.run(), name=task.name)))
            if self.on_ready is not None:
                self.on_ready()
            self.state.accepting = True
            yield
        finally:
            self.state.accepting = False
            await _cancel_all(tasks)
            for feature in reversed(started):
                if feature.stop is None:
                    continue
                try:
                    await feature.stop()
                except Exception:  # the others still stop: nothing is left holding a connection
                    log.exception("stopping %s failed", feature.name)


async def _cancel_all(tasks: list[tuple[BackgroundTask, asyncio.Task[None]]]) -> None:
    for task, _ in tasks:
        if task.interrupt is not None:
            task.interrupt()
    for _, running in tasks:
        running.cancel()
    outcomes = await asyncio.gather(*(running for _, running in tasks), return_exceptions=True)
    for (task, _), outcome in zip(tasks, outcomes, strict=True):
        if isinstance(outcome, Exception):
            log.error("background task %s had failed: %r", task.name, outcome)


class AssembledApp:
    """One ASGI app from an assembly: one route table, the lifespan running the assembly.

    The table holds every feature's hot routes first (bare ASGI endpoints, nothing in between), then
    one mount of the framework routes (a Starlette app behind the request-id middleware). A hot route
    whose path is exact, or a prefix followed by one ``{name:path}`` parameter, is matched by a dict
    lookup or a prefix test built from the table (the router's regexes cost a few µs a request on the
    ack path); anything else goes through the router. ``wrap`` puts ASGI middleware around the whole.
    """

    def __init__(
        self,
        assembly: Assembly,
        *,
        wrap: Callable[[ASGIApp], ASGIApp] | None = None,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_headers: int = MAX_HEADERS,
    ) -> None:
        self.assembly = assembly
        self._max_header_bytes = max_header_bytes
        self._max_headers = max_headers
        features = assembly.features
        framework = Starlette(
            routes=[route for feature in features for route in feature.routes],
            middleware=[Middleware(RequestIdMiddleware)],
        )
        hot = [route for feature in features for route in feature.hot_routes]
        self.router = Router(routes=[*hot, Mount("", app=framework)], lifespan=self._lifespan)
        self._exact: dict[str, ASGIApp] = {}
        self._prefixes: list[tuple[str, str, ASGIApp]] = []
        for route in hot:
            if isinstance(route, Route) and route.methods is None:
                found = _PATH_TAIL.fullmatch(route.path)
                if "{" not in route.path:
                    self._exact.setdefault(route.path, route.app)
                elif found is not None and "{" not in found["prefix"]:
                    self._prefixes.append((found["prefix"], found["name"], route.app))
        self._entry: ASGIApp = wrap(self._dispatch) if wrap is not None else self._dispatch

    @property
    def routes(self) -> list[BaseRoute]:
        """The route table, in matching order (the framework's routes inside its mount)."""
        return list(self.router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            if len(headers) > self._max_headers or sum(len(k) + len(v) for k, v in headers) > self._max_header_bytes:
                await _headers_too_large(send, self._max_headers, self._max_header_bytes)
                return
            path: str = scope["path"]
            endpoint = self._exact.get(path)
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
            for prefix, name, app in self._prefixes:
                if path.startswith(prefix):
                    scope["path_params"] = {name: path[len(prefix) :]}
                    await app(scope, receive, send)
                    return
        await self.router(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _: object) -> AsyncIterator[None]:
        async with self.assembly.running():
            yield


async def _headers_too_large(send: Send, count: int, size: int) -> None:
    request_id = new_request_id()
    message = f"a request may carry at most {count} headers and {size} bytes of them"
    await send_answer(send, 431, error_bytes("headers_too_large", message, request_id), request_id)


_PATH_TAIL = re.compile(r"(?P<prefix>.*)\{(?P<name>\w+):path\}")
