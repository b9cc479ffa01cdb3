"""Request ids on framework routes: ``RequestIdMiddleware`` sets the request id context and echoes
``x-request-id``; ``request_id_of`` reads it back in an endpoint."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cozegate.http.request_ids import REQUEST_ID_HEADER, request_id_from
from cozegate.observability.logging import request_id_var


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = request_id_from(raw)
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def request_id_of(request: Request) -> str:
    """The request id ``RequestIdMiddleware`` put on the scope."""
    return str(request.scope.get("state", {}).get("request_id", ""))
