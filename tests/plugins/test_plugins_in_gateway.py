"""Plugins mounted in `cozegate serve` (COZEGATE_PLUGINS) beside the webhooks and the admin API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess

PLUGINS = '["examples.orders_plugin:plugin"]'


def gateway_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "COZEGATE_STATE_DIR": str(tmp_path / "state"),
        "COZEGATE_PLUGINS": PLUGINS,
        "ORDERS_DB": str(tmp_path / "orders.db"),
        **extra,
    }


def test_gateway_serves_the_plugin(tmp_path: Path) -> None:
    server = ServerProcess(gateway_env(tmp_path, ORDERS_PLUGIN_TOKEN="gw-token"), tmp_path / "gw.log").start()
    try:
        url = f"{server.url}/plugins/orders/lookup_order"
        ok = httpx.post(url, json={"order_id": "A-1003"}, headers={"X-Api-Key": "gw-token"})
        assert ok.status_code == 200
        assert ok.json()["status"] == "paid"
        assert httpx.post(url, json={"order_id": "A-1003"}).status_code == 401
        spec = httpx.get(f"{server.url}/plugins/orders/openapi.json").json()
        assert spec["servers"] == [{"url": server.url}]
        assert (
            'cozegate_plugin_calls_total{outcome="ok",plugin="orders",tool="lookup_order"} 1.0'
            in httpx.get(server.url + "/metrics").text
        )
        assert httpx.get(server.url + "/healthz").status_code == 200  # the rest of the gateway is unchanged
    finally:
        assert server.stop()


def test_gateway_refuses_to_start_when_a_plugin_token_is_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORDERS_PLUGIN_TOKEN", raising=False)
    server = ServerProcess(gateway_env(tmp_path), tmp_path / "gw.log")
    with pytest.raises(RuntimeError, match="exited"):
        server.start(timeout=30)
    assert "cozegate: plugin 'orders' cannot serve: set ORDERS_PLUGIN_TOKEN" in server.logs()
    assert "Traceback" not in server.logs()
