"""The outbound HTTP clients: one recipe for every long-lived ``httpx.AsyncClient`` (Coze, reply URLs).

httpcore 1.0 (httpx's pool) has two costs that grow with the connections a pool holds (encode/httpcore#1035):

* it closes an idle connection whenever the pool holds more connections than ``max_keepalive_connections``
  (it counts all of them, not the idle ones): with the default 20 and more concurrent requests than that,
  requests kept opening new TCP connections. Here the pool keeps as many idle connections as it may hold
  (the idle expiry still closes what a burst left behind);
* it re-counts the whole pool for every idle connection, twice per request: quadratic in the pool's size,
  a third of the gateway's CPU with 100 conversations in flight (py-spy). So requests are spread over
  pools of 8 connections, the least busy first (``ShardedTransport``), each an ordinary ``httpx.AsyncHTTPTransport``
  (its errors, timeouts and tracing unchanged). With a proxy configured in the environment (``HTTPS_PROXY``
  and the like) the client is httpx's own, unsharded, so that httpx applies the proxy and ``NO_PROXY``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import httpx

log = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 100
KEEPALIVE_EXPIRY_SECONDS = 30.0
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
CONNECTIONS_PER_SHARD = 8  # pool size per shard: httpcore's per-request bookkeeping grows with its square


class ShardedTransport(httpx.AsyncBaseTransport):
    """Requests spread over ``shards`` transports of ``limits // shards`` connections each (together at most
    ``limits``): each request goes to the shard with the fewest requests in flight (until its response is
    closed), so none queues while another has room."""

    def __init__(self, limits: httpx.Limits, shards: int) -> None:
        total = limits.max_connections or DEFAULT_MAX_CONNECTIONS
        per_shard = pool_limits(max(1, total // shards))  # together never more than ``limits``
        self.shards = [httpx.AsyncHTTPTransport(limits=per_shard) for _ in range(shards)]
        self.in_flight = [0] * shards

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self.shards)), key=self.in_flight.__getitem__)
        self.in_flight[index] += 1
        try:
            response = await self.shards[index].handle_async_request(request)
        except BaseException:
            self.in_flight[index] -= 1
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Counted(response.stream, lambda: self._done(index))
        return response

    def _done(self, index: int) -> None:
        self.in_flight[index] -= 1

    async def aclose(self) -> None:
        for shard in self.shards:
            try:
                await shard.aclose()
            except Exception as exc:  # close the others all the same
                log.warning("closing an outbound connection pool failed: %s", exc.__class__.__name__)


class _Counted(httpx.AsyncByteStream):
    """A response body that calls ``closed`` once, when it is closed."""

    def __init__(self, inner: httpx.AsyncByteStream, closed: Callable[[], None]) -> None:
        self._inner = inner
        self._closed: Callable[[], None] | None = closed

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            closed, self._closed = self._closed, None
            if closed is not None:
                closed()


def pool_limits(max_connections: int = DEFAULT_MAX_CONNECTIONS) -> httpx.Limits:
    return httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
    )


def outbound_client(
    timeout: httpx.Timeout,
    *,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    event_hooks: Mapping[str, Sequence[Any]] | None = None,
) -> httpx.AsyncClient:
    """A client for many concurrent requests to a few hosts (Coze, reply URLs, alert receivers)."""
    hooks = {name: list(functions) for name, functions in (event_hooks or {}).items()}
    if _proxy_in_environment():
        return httpx.AsyncClient(timeout=timeout, limits=pool_limits(max_connections), event_hooks=hooks)
    shards = max(1, max_connections // CONNECTIONS_PER_SHARD)
    transport = ShardedTransport(pool_limits(max_connections), shards)
    return httpx.AsyncClient(timeout=timeout, transport=transport, event_hooks=hooks)


def _proxy_in_environment() -> bool:
    return any(os.environ.get(name) for name in PROXY_VARIABLES)
