"""A ``cozegate serve`` whose tenant ``default`` answers through a simulator bot and delivers replies to
a receiver, and a way to send it a signed message: what the end-to-end pipeline tests share."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.support.receiver import ReplyReceiver
from tests.support.server import ServerProcess
from tests.support.signing import standard_headers
from tests.support.simulator import SimulatorProcess

REPLY_SECRET = "whsec_cmVwbHktc2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz"


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorProcess]:
    sim = SimulatorProcess(tmp_path / "sim.log").start()
    yield sim
    sim.stop()


@pytest.fixture
def receiver() -> Iterator[ReplyReceiver]:
    r = ReplyReceiver(REPLY_SECRET).start()
    yield r
    r.stop()


def gateway(
    backend: Backend,
    simulator: SimulatorProcess,
    receiver: ReplyReceiver,
    bot: str = "bot-echo",
    tenant: dict[str, Any] | None = None,
    **env: str,
) -> ServerProcess:
    backend.default_tenant = {
        "bot_id": bot,
        "reply_url": receiver.url,
        "reply_secret": {"value": REPLY_SECRET},
        **(tenant or {}),
    }
    settings = backend.settings_env(
        **{
            "COZEGATE_COZE_BASE_URL": simulator.url,
            "COZEGATE_HANDLER_MODULES": "[]",
            "COZEGATE_COZE_MAX_ATTEMPTS": "3",
            **env,
        }
    )
    return ServerProcess(settings, backend.tmp / f"gateway-{time.monotonic_ns()}.log").start()


def send(server: ServerProcess, backend: Backend, event_id: str, text: str, conversation: str = "c1") -> None:
    body = json.dumps(
        {
            "event_type": "message_create",
            "event_id": event_id,
            "conversation_id": conversation,
            "user_id": "u-" + conversation,
            "message": {"role": "user", "content": text},
        }
    ).encode()
    r = httpx.post(server.url + "/coze/webhook", content=body, headers=standard_headers(backend.secret, body))
    assert r.status_code == 200, r.text
