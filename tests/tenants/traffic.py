"""Signed webhooks sent to a tenant, one after another from a background thread, while a test changes
the configuration; every answer's status is kept."""

from __future__ import annotations

import threading
from types import TracebackType

import httpx

from tests.support.server import ServerProcess
from tests.support.signing import event_body, standard_headers


def post(server: ServerProcess, tenant: str, secret: str, event_id: str) -> int:
    body = event_body(event_id, "note")
    headers = standard_headers(secret, body)
    return httpx.post(f"{server.url}/webhooks/{tenant}", content=body, headers=headers, timeout=10).status_code


class Traffic:
    def __init__(self, server: ServerProcess, tenant: str, secret: str) -> None:
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, args=(server, tenant, secret))

    def _send(self, server: ServerProcess, tenant: str, secret: str) -> None:
        i = 0
        while not self._stop.is_set():
            self.statuses.append(post(server, tenant, secret, f"flow-{i}"))
            i += 1

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
