"""``BearerGuard``: an ASGI app whose chosen paths answer only to one bearer token (compared in constant
time); the rest pass through untouched. 401 with the project's error body otherwise.

``LoopbackOnly``: an ASGI app that answers only requests that reached the server on a loopback address
(the address the connection was accepted on, whatever the process was told to listen on)."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from cozegate.http.asgi import send_answer
from cozegate.http.errors import error_bytes
from cozegate.http.headers import RawHeaders
from cozegate.http.request_ids import request_id_from


class BearerGuard:
    def __init__(self, app: ASGIApp, token: str | None, guarded: Callable[[str], bool]) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode() if token else None
        self._guarded = guarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._guarded(scope["path"]):
            headers = RawHeaders(scope["headers"])
            presented = (headers.get("authorization") or "").encode("latin-1")
            if self._expected is None or not hmac.compare_digest(presented, self._expected):
                request_id = request_id_from(headers.get("x-request-id"))
                body = error_bytes("unauthorized", "send `Authorization: Bearer <admin token>`", request_id)
                await send_answer(send, 401, body, request_id, [(b"www-authenticate", b"Bearer")])
                return
        await self._app(scope, receive, send)


class LoopbackOnly:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] == "http" and server is not None and not _loopback(str(server[0])):
            request_id = request_id_from(RawHeaders(scope["headers"]).get("x-request-id"))
            body = error_bytes("not_found", "not served on this address", request_id)
            await send_answer(send, 404, body, request_id)
            return
        await self._app(scope, receive, send)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"
