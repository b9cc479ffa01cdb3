"""HTTP requests are counted and timed by route group: however many tenants, paths or methods callers
make up, the number of series stays bounded."""

from __future__ import annotations

import secrets

import httpx
import pytest

from cozegate.app import create_app
from cozegate.observability.metrics import REGISTRY
from tests.conftest import Backend, free_port
from tests.support.loopback_server import LoopbackServer


def series(prefix: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    found = set()
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name.startswith(prefix):
                found.add((s.name, tuple(sorted(s.labels.items()))))
    return found


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_made_up_tenants_paths_and_methods_add_no_series(backend: Backend) -> None:
    port = free_port()
    server = LoopbackServer(create_app(backend.settings(port=port)), port=port, lifespan="on")  # type: ignore[arg-type]
    server.start_serving()
    try:
        with httpx.Client(base_url=server.url) as client:

            def noise(n: int) -> None:
                for _ in range(n):
                    word = secrets.token_hex(6)
                    client.post(f"/webhooks/{word}", content=b"{}", headers={"content-type": "application/json"})
                    client.get(f"/{word}/{word}")
                    client.get(f"/admin/{word}")
                    client.request(secrets.choice(["PROPFIND", "TRACE", "MKCOL", "LOCK"]), f"/v1/{word}")

            noise(5)  # every route group, method and code this noise reaches now has its series
            before = series("cozegate_http_") | series("cozegate_webhook_")
            noise(50)
            after = series("cozegate_http_") | series("cozegate_webhook_")
            scrape = client.get("/metrics").text
    finally:
        server.stop_serving()
    assert after == before, sorted(after - before)
    assert 'cozegate_webhook_received_total{tenant="unknown"}' in scrape
    assert 'route="other"' in scrape
    assert 'method="other"' in scrape
