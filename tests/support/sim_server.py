"""The Coze simulator served by uvicorn in a thread on a free loopback port (in-process, fast to start)."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette

from tests.support.loopback_server import LoopbackServer


class SimServer(LoopbackServer):
    """One simulator app served by uvicorn on a free loopback port, with helpers for its admin API."""

    def __init__(self, app: Starlette) -> None:
        super().__init__(app)
        self.admin = httpx.Client(base_url=self.url, timeout=10)

    def start(self) -> SimServer:
        self.start_serving()
        return self

    def stop(self) -> None:
        self.admin.close()
        self.stop_serving()

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
