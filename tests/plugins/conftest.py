"""The example orders plugin as a real `cozegate plugins serve` process, shared by a test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.plugin_server import PluginServerProcess

ORDERS_TOKEN = "orders-token"


@pytest.fixture(scope="module")
def orders_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PluginServerProcess]:
    tmp: Path = tmp_path_factory.mktemp("orders")
    env = {"ORDERS_PLUGIN_TOKEN": ORDERS_TOKEN, "ORDERS_DB": str(tmp / "orders.db")}
    server = PluginServerProcess(["examples.orders_plugin:plugin"], tmp / "orders.log", env).start()
    try:
        yield server
    finally:
        server.stop()
