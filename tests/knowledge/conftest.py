"""Knowledge fixtures: the Coze simulator (real HTTP, cozepy), a web server for crawled pages, and a
vector index on Milvus Lite in the test's folder (closed and its in-process server released after)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cozepy import AsyncTokenAuth, Coze, TokenAuth
from milvus_lite import server_manager_instance
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cozegate.coze import CozeClient
from cozegate.coze.simulator import create_simulator_app
from cozegate.knowledge.embeddings import HashingEmbedder
from cozegate.knowledge.vector_index import VectorIndex
from tests.conftest import free_port
from tests.support.loopback_server import LoopbackServer
from tests.support.sim_server import SimServer
from tests.support.waiting import wait_for

TOKEN = "test-token"


class WebSite(LoopbackServer):
    """Pages by path; edit ``pages`` to change what the next fetch gets."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, str]] = {}  # path -> (content type, body)
        self.fetches: list[str] = []

        async def page(request: Request) -> Response:
            path = request.path_params["path"]
            self.fetches.append(path)
            if path not in self.pages:
                return PlainTextResponse("not found", status_code=404)
            content_type, body = self.pages[path]
            if content_type == "redirect":
                return Response(status_code=302, headers={"location": body})
            return Response(body, media_type=content_type)

        super().__init__(Starlette(routes=[Route("/{path:path}", page)]))
        self.start_serving()

    def url_of(self, path: str) -> str:
        return f"{self.url}/{path}"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    server = SimServer(create_simulator_app()).start()
    yield server
    server.stop()


@pytest.fixture
def coze(sim: SimServer) -> Coze:
    return Coze(auth=TokenAuth(TOKEN), base_url=sim.url)


@pytest.fixture
async def coze_client(sim: SimServer) -> AsyncIterator[CozeClient]:
    client = CozeClient(AsyncTokenAuth(TOKEN), sim.url)
    yield client
    await client.aclose()


@pytest.fixture
def website() -> Iterator[WebSite]:
    site = WebSite()
    yield site
    site.stop_serving()


def open_lite_index(path: Path, collection: str = "chunks", dimension: int = 512) -> VectorIndex:
    return VectorIndex(str(path), collection, dimension)


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[VectorIndex]:
    path = tmp_path / "knowledge.db"
    vector_index = open_lite_index(path, dimension=HashingEmbedder().dimension)
    await vector_index.open()
    yield vector_index
    await vector_index.close()
    server_manager_instance.release_server(str(path))


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Milvus server by URL: ``milvus-lite server`` (the package's gRPC server) in its own process, one per
    test module (a run once found the server of an earlier module no longer answering: not shared)."""
    port = free_port()
    data = tmp_path_factory.mktemp("milvus") / "data"
    log = (data.parent / "milvus.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "milvus_lite",
            "server",
            "--data-dir",
            str(data),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    from pymilvus import MilvusClient

    def ready() -> bool:
        try:
            MilvusClient(uri=url, timeout=2).list_collections()
            return True
        except Exception:
            return proc.poll() is not None  # an exit ends the wait (and fails below)

    wait_for(ready, timeout=60)
    assert proc.poll() is None, (data.parent / "milvus.log").read_text()
    yield url
    proc.terminate()
    proc.wait(timeout=10)
