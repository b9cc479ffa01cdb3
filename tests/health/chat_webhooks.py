"""Team-chat incoming webhooks on loopback (Feishu, WeCom, Slack), recording what alerts they got and
answering as the real services do (Feishu ``{"code": 0}``, WeCom ``{"errcode": 0}``, Slack ``ok``)."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support.loopback_server import LoopbackServer


class ChatWebhooks:
    def __init__(self) -> None:
        self.received: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()
        self.refuse_feishu = False
        app = Starlette(routes=[Route("/{kind}", self._receive, methods=["POST", "HEAD"])])
        self.server = LoopbackServer(app)

    async def _receive(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        if request.method == "HEAD":
            return Response(status_code=405)
        body = json.loads(await request.body())
        with self._lock:
            self.received[kind].append(body)
        if kind == "feishu":
            if self.refuse_feishu:
                return JSONResponse({"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
            return JSONResponse({"code": 0, "msg": "success", "data": {}})
        if kind == "wecom":
            return JSONResponse({"errcode": 0, "errmsg": "ok"})
        return PlainTextResponse("ok")

    def url(self, kind: str) -> str:
        return f"{self.server.url}/{kind}"

    def start(self) -> ChatWebhooks:
        self.server.start_serving()
        return self

    def stop(self) -> None:
        self.server.stop_serving()
