"""An ASGI app served by uvicorn in a thread on a free loopback port: the test peers (the Coze
simulator, chat webhooks, the fake Kubernetes API) all start and stop this way."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp


class LoopbackServer:
    def __init__(self, app: ASGIApp, *, graceful_seconds: float = 1.0, port: int = 0, lifespan: str = "off") -> None:
        """``graceful_seconds``: how long a stop waits for requests in flight (a test peer may hold one
        for minutes, such as a simulator delaying an answer on purpose). ``lifespan="on"`` for an app
        that starts and stops its own parts (a whole cozegate app in the test's process)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted sockets inherit it (Linux): without it every answer waits for the client's delayed ACK
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="critical",
            access_log=False,
            lifespan=lifespan,  # type: ignore[arg-type]
            loop="asyncio",
            timeout_graceful_shutdown=graceful_seconds,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_serving(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the test server on port {self.port} did not start")
            time.sleep(0.01)

    def stop_serving(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
