"""The simulator as a real HTTP server on loopback (uvicorn in a thread), and cozepy clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from cozepy import AsyncCoze, AsyncTokenAuth, Coze, TokenAuth

from cozegate.coze.simulator import BotConfig, SimulatorConfig, create_simulator_app
from tests.support.sim_server import SimServer

TOKEN = "test-token"


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
