"""A real ``cozegate serve`` for the console tests, and a client that signs in like a browser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.support.server import ServerProcess
from tests.support.signing import event_body, standard_headers
from tests.support.waiting import wait_for

ADMIN_TOKEN = "test-admin-token"  # what Backend.settings_env configures
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
ROLLOUT_TENANT = {
    "secrets": [{"value": "hub-secret-value-1"}, {"value": "hub-secret-value-2", "expires_at": "2099-01-01T00:00:00Z"}],
    "signature_scheme": "hub",
    "rollout": {
        "experiment": "new-prompt",
        "variants": [
            {"name": "control", "bot_id": "bot-old", "weight_bps": 9000},
            {"name": "canary", "bot_id": "bot-new", "weight_bps": 1000},
        ],
    },
}


@pytest.fixture
def server(backend: Backend) -> Iterator[ServerProcess]:
    backend.extra_tenants["acme"] = ROLLOUT_TENANT
    proc = ServerProcess(backend.settings_env(COZEGATE_MAX_ATTEMPTS="2"), backend.tmp / "server.log").start()
    try:
        yield proc
    finally:
        assert proc.stop(), proc.logs()


def send(server: ServerProcess, backend: Backend, event_id: str, event_type: str, **extra: object) -> None:
    body = event_body(event_id, event_type, **extra)
    r = httpx.post(server.url + "/coze/webhook", content=body, headers=standard_headers(backend.secret, body))
    assert r.status_code == 200, r.text


def dead_letters(server: ServerProcess) -> list[dict[str, Any]]:
    r = httpx.get(server.url + "/admin/dead-letters", headers=ADMIN, params={"limit": 500})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def make_dead_letters(
    server: ServerProcess, backend: Backend, keys: list[str], event_type: str = "needs_fix"
) -> dict[str, int]:
    """Send events whose handler fails; wait until each is a dead letter. Returns their ids by dedup key."""
    for key in keys:
        send(server, backend, key, event_type)

    def ids() -> dict[str, int] | None:
        found = {item["dedup_key"]: item["id"] for item in dead_letters(server)}
        return found if set(keys) <= set(found) else None

    found: dict[str, int] = wait_for(ids)
    return {key: found[key] for key in keys}


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Console:
    """An HTTP client of the console that keeps its cookies, like a browser."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)

    def login(self, token: str = ADMIN_TOKEN) -> httpx.Response:
        return self.http.post("/console/login", data={"token": token, "next": "/console"})

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def csrf(self, page: str = "/console/dead-letters") -> str:
        r = self.get(page)
        assert r.status_code == 200, r.text
        match = CSRF.search(r.text)
        assert match is not None, "no CSRF field on " + page
        return match.group(1)

    def post(self, path: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.http.post(path, data=data, **kwargs)

    def follow(self, response: httpx.Response) -> httpx.Response:
        assert response.status_code == 303, (response.status_code, response.text)
        return self.get(response.headers["location"])

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def console(server: ServerProcess) -> Iterator[Console]:
    client = Console(server)
    try:
        yield client
    finally:
        client.close()
