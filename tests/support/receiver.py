"""A real HTTP endpoint on loopback that receives bot replies and checks their signatures."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import free_port


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    traceparent: str | None = None


@dataclass
class ReplyReceiver:
    secret: str
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    rejected_signatures: int = 0
    fail_next: int = 0  # answer 503 to this many deliveries first

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/replies", self._receive, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/replies"

    def start(self) -> ReplyReceiver:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        try:
            Webhook(self.secret).verify(body, dict(request.headers), json_parse=False)
        except WebhookVerificationError:
            with self._lock:
                self.rejected_signatures += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"error": "try later"}, status_code=503)
            self.received.append(
                Received(request.headers["webhook-id"], json.loads(body), request.headers.get("traceparent"))
            )
        return JSONResponse({"ok": True})

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)
