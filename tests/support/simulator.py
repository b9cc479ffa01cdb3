"""The Coze simulator as a real process (``cozegate sim``), with its fault-injection API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port
from tests.support.server import REPO


class SimulatorProcess:
    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SimulatorProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cozegate", "sim", "--port", str(self.port)],
            env=env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/sim/requests", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("simulator did not start:\n" + self.log_path.read_text())

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)

    def inject(self, **fault: Any) -> None:
        r = httpx.post(self.url + "/sim/faults", json=fault, timeout=5)
        assert r.status_code < 300, r.text

    def clear_faults(self) -> None:
        assert httpx.delete(self.url + "/sim/faults", timeout=5).status_code < 300

    def requests(self) -> list[dict[str, Any]]:
        data = httpx.get(self.url + "/sim/requests", timeout=5).json()
        return data if isinstance(data, list) else list(data.get("requests", data.get("items", [])))
