"""The simulator as a real HTTP server on loopback (uvicorn in a thread), and cozepy clients pointed at it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from cozepy import AsyncCoze, AsyncTokenAuth, Coze, TokenAuth
from starlette.applications import Starlette

from cozegate.coze.simulator import BotConfig, SimulatorConfig, create_simulator_app

TOKEN = "test-token"


class SimServer:
    """One simulator app served by uvicorn on a free loopback port, with helpers for its admin API."""

    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="critical", access_log=False, lifespan="off", loop="asyncio")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.admin = httpx.Client(base_url=self.url, timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SimServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.admin.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    # admin API

    def add_fault(self, **spec: Any) -> str:
        r = self.admin.post("/sim/faults", json=spec)
        assert r.status_code == 201, r.text
        fault_id: str = r.json()["faults"][0]["id"]
        return fault_id

    def faults(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = self.admin.get("/sim/faults").json()["faults"]
        return faults

    def clear_faults(self) -> None:
        self.admin.delete("/sim/faults").raise_for_status()

    def requests(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        params = {"endpoint": endpoint} if endpoint else {}
        requests: list[dict[str, Any]] = self.admin.get("/sim/requests", params=params).json()["requests"]
        return requests

    def clear_requests(self) -> None:
        self.admin.delete("/sim/requests").raise_for_status()


def test_scenario() -> SimulatorConfig:
    """The defaults plus a slow bot (cancellable), a bot that streams slowly and one that is not published."""
    return SimulatorConfig(
        bots=[
            BotConfig(id="bot-slow", kind="echo", think_ms=5_000),
            BotConfig(id="bot-drip", kind="echo", delta_ms=20),
            BotConfig(id="bot-draft", kind="echo", published=False),
        ]
    )


@pytest.fixture(scope="session")
def sim() -> Iterator[SimServer]:
    server = SimServer(create_simulator_app(test_scenario())).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _no_faults_left(sim: SimServer) -> Iterator[None]:
    sim.clear_faults()
    yield
    sim.clear_faults()


@pytest.fixture
def coze(sim: SimServer) -> Coze:
    return Coze(auth=TokenAuth(TOKEN), base_url=sim.url)


@pytest.fixture
async def acoze(sim: SimServer) -> AsyncIterator[AsyncCoze]:
    client = AsyncCoze(auth=AsyncTokenAuth(TOKEN), base_url=sim.url)
    yield client
    http = client._requester._async_client
    if http is not None:
        await http.aclose()
