"""Run ``cozegate serve`` as a real process on a loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


class ServerProcess:
    def __init__(self, env: dict[str, str], log_path: Path, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = {
            **os.environ,
            **env,
            "COZEGATE_PORT": str(self.port),
            "COZEGATE_HOST": "127.0.0.1",
            "PYTHONPATH": str(REPO),
        }
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cozegate", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.log_path.parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.logs()}")

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``cozegate <args> --url <this server>`` with the server's settings (its admin token)."""
        return subprocess.run(
            [sys.executable, "-m", "cozegate", *args, "--url", self.url],
            env={**self.env, "COLUMNS": "120"},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.log_path.parent,
        )

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM, as Kubernetes sends it; True if the server shut down gracefully.

        Graceful: the app's shutdown ran to its end ("cozegate stopped") and the process ended by the
        signal or with 0 (uvicorn re-raises the signal it handled, so the exit status tells it).
        """
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code in (0, -signal.SIGTERM) and '"msg": "cozegate stopped"' in self.logs()

    def kill(self) -> None:
        """``kill -9`` the server and every process it started: no shutdown code runs."""
        assert self.proc is not None
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        for pid in [self.proc.pid, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        self.proc.wait(timeout=10)
        for pid in children:
            while Path(f"/proc/{pid}").exists():
                time.sleep(0.01)
