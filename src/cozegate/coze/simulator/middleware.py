"""A fresh log id per request, on every response (``X-Tt-Logid``), even 404s and the admin API."""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cozegate.coze.simulator.envelopes import LOGID_HEADER


class LogidMiddleware:
    def __init__(self, app: ASGIApp, new_logid: Callable[[], str]) -> None:
        self.app = app
        self.new_logid = new_logid

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        logid = self.new_logid()
        scope.setdefault("state", {})["logid"] = logid

        async def send_with_logid(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if LOGID_HEADER.lower() not in headers:
                    headers[LOGID_HEADER] = logid
            await send(message)

        await self.app(scope, receive, send_with_logid)
