"""The Coze simulator served by uvicorn in a thread on a free loopback port (in-process, fast to start)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette


class SimServer:
    """One simulator app served by uvicorn on a free loopback port, with helpers for its admin API."""

    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # without it every answer waits for the client's delayed ACK (about 40 ms per request)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
