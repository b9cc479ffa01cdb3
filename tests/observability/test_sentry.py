"""Errors reach Sentry (any service speaking its envelope protocol; here one on loopback) when a DSN is
set, with the personal data masked like the logs and nothing from the request."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import Backend
from tests.support.loopback_server import LoopbackServer
from tests.support.server import ServerProcess
from tests.support.signing import standard_headers
from tests.support.waiting import wait_for

EMAIL = "alice.zhang@example.com"


class SentryIngest:
    """Keeps the items of every envelope posted to ``/api/<project>/envelope/``."""

    def __init__(self) -> None:
        self.items: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.auth_headers: list[str] = []
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/api/{project}/envelope/", self._envelope, methods=["POST"])])
        self.server = LoopbackServer(app)

    async def _envelope(self, request: Request) -> JSONResponse:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        lines = body.split(b"\n")
        parsed = []
        for header_line, payload_line in zip(lines[1::2], lines[2::2], strict=False):
            header = json.loads(header_line)
            if header.get("type") in ("event", "transaction"):
                parsed.append((header, json.loads(payload_line)))
        with self._lock:
            self.items.extend(parsed)
            self.auth_headers.append(request.headers.get("x-sentry-auth", ""))
        return JSONResponse({"id": "0" * 32})

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [payload for header, payload in self.items if header["type"] == "event"]


@pytest.fixture
def ingest() -> Iterator[SentryIngest]:
    sentry = SentryIngest()
    sentry.server.start_serving()
    yield sentry
    sentry.server.stop_serving()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_dead_lettered_event_is_reported_masked(backend: Backend, ingest: SentryIngest) -> None:
    dsn = f"http://publickey123@127.0.0.1:{ingest.server.port}/42"
    env = backend.settings_env(COZEGATE_SENTRY_DSN=dsn, COZEGATE_SENTRY_ENVIRONMENT="ci", COZEGATE_MAX_ATTEMPTS="1")
    server = ServerProcess(env, backend.tmp / "serve.log").start()
    try:
        body = json.dumps({"event_type": "always_fail", "event_id": f"evt-{EMAIL}"}).encode()
        r = httpx.post(f"{server.url}/webhooks/default", content=body, headers=standard_headers(backend.secret, body))
        assert r.status_code == 200
        wait_for(ingest.events, timeout=30)
    finally:
        assert server.stop(), server.logs()
    event = ingest.events()[0]
    raw = json.dumps(event)
    assert EMAIL not in raw, "the e-mail address reached Sentry unmasked"
    assert event["environment"] == "ci"
    assert event["release"].startswith("cozegate@")
    assert event["level"] == "error"
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "RuntimeError"
    assert exception["value"].startswith("downstream refused ")
    assert "***" in exception["value"]  # masked as the logs mask it (partial mode by default)
    assert "dead-lettered" in event["logentry"]["message"] or "dead-lettered" in event["logentry"].get("formatted", "")
    assert all("vars" not in frame for frame in exception["stacktrace"]["frames"])
    assert "sentry_key=publickey123" in ingest.auth_headers[0]
    assert "publickey123" not in server.logs(), "the DSN was logged"
