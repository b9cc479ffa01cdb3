"""SIGTERM: in-flight handlers finish within the grace period, or their events are given back."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import Backend
from tests.support.inspect_db import inbox_rows, sink_rows
from tests.support.server import ServerProcess
from tests.support.signing import event_body, standard_headers


def start_slow_event(backend: Backend, grace: str, seconds: float) -> ServerProcess:
    server = ServerProcess(backend.settings_env(COZEGATE_SHUTDOWN_GRACE_SECONDS=grace), backend.tmp / "s.log").start()
    body = event_body("slow-1", "slow", seconds=seconds)
    r = httpx.post(server.url + "/coze/webhook", content=body, headers=standard_headers(backend.secret, body))
    assert r.status_code == 200
    deadline = time.monotonic() + 20
    while [row["status"] for row in inbox_rows(backend)] != ["processing"]:
        assert time.monotonic() < deadline, "the handler never started"
        time.sleep(0.02)
    return server


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_in_flight_work_finishes_within_the_grace_period(backend: Backend) -> None:
    server = start_slow_event(backend, grace="20", seconds=1.0)
    assert server.stop(), server.logs()
    [row] = inbox_rows(backend)
    assert row["status"] == "done"
    assert sink_rows(backend) == {("default", "slow-1"): 1}


def test_unfinished_work_is_released_not_lost(backend: Backend) -> None:
    server = start_slow_event(backend, grace="0.2", seconds=600)
    assert server.stop(), server.logs()
    [row] = inbox_rows(backend)
    assert (row["status"], row["attempts"], row["lease_owner"]) == ("pending", 0, None)
    # the next process picks it up at once (no lease to wait out)
    restarted = ServerProcess(backend.settings_env(), backend.tmp / "s2.log")
    restarted.start()
    try:
        deadline = time.monotonic() + 20
        while inbox_rows(backend)[0]["status"] != "processing":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        restarted.kill()
