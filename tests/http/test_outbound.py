"""The outbound clients' pools over real loopback HTTP: connections are kept and reused under concurrency
(httpcore's default keep-alive limit closed them past 20), and requests spread over the shards."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from cozegate.http.outbound import CONNECTIONS_PER_SHARD, ShardedTransport, outbound_client
from tests.support.loopback_server import LoopbackServer

CONCURRENT = 60


class PortRecorder:
    """Answers after a short pause (so the requests overlap), noting the client port of each request."""

    def __init__(self) -> None:
        self.ports: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        self.ports.append(scope["client"][1])
        await asyncio.sleep(0.05)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def peer() -> Iterator[tuple[LoopbackServer, PortRecorder]]:
    recorder = PortRecorder()
    server = LoopbackServer(recorder)
    server.start_serving()
    yield server, recorder
    server.stop_serving()


async def test_a_second_wave_of_concurrent_requests_reuses_the_first_waves_connections(
    peer: tuple[LoopbackServer, PortRecorder],
) -> None:
    server, recorder = peer
    client = outbound_client(httpx.Timeout(10.0), max_connections=100)
    try:
        for _ in range(2):
            answers = await asyncio.gather(*(client.post(server.url + "/x") for _ in range(CONCURRENT)))
            assert {a.status_code for a in answers} == {204}
        first, second = recorder.ports[:CONCURRENT], recorder.ports[CONCURRENT:]
        assert len(set(first)) == CONCURRENT  # one connection per concurrent request
        assert set(second) <= set(first)  # none closed while idle, none opened again
        transport = client._transport
        assert isinstance(transport, ShardedTransport)
        assert len(transport.shards) == 100 // CONNECTIONS_PER_SHARD
    finally:
        await client.aclose()


def test_a_proxy_in_the_environment_gets_httpx_s_own_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    client = outbound_client(httpx.Timeout(1.0))
    assert not isinstance(client._transport, ShardedTransport)
