"""Self-healing in a real ``cozegate serve`` (both backends) on the real clock: Coze (the simulator,
a separate process) starts failing for the tenant's bot, the server's own prober opens an incident,
users get the bot's fallback reply through the normal webhook → reply path, one alert reaches the
team chat; when Coze answers again the incident closes, replies come from the bot again and the
chat gets the recovery alert."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.health.chat_webhooks import ChatWebhooks
from tests.support.pipeline_gateway import gateway, send
from tests.support.receiver import ReplyReceiver
from tests.support.simulator import SimulatorProcess
from tests.support.waiting import wait_for

ADMIN = {"authorization": "Bearer test-admin-token"}
FALLBACK = "The assistant is resting; we will be right back."


@pytest.fixture
def chats() -> Iterator[ChatWebhooks]:
    server = ChatWebhooks().start()
    yield server
    server.stop()


def test_the_server_heals_itself_and_users_get_the_fallback_meanwhile(
    backend: Backend, simulator: SimulatorProcess, receiver: ReplyReceiver, chats: ChatWebhooks
) -> None:
    server = gateway(
        backend,
        simulator,
        receiver,
        COZEGATE_HEALTH_PROBE_INTERVAL_SECONDS="0.3",
        COZEGATE_HEALTH_FAILURE_THRESHOLD="2",
        COZEGATE_COZE_MAX_ATTEMPTS="1",
        COZEGATE_ALERT_WEBHOOKS=json.dumps([{"kind": "slack", "url": chats.url("slack")}]),
    )
    api = httpx.Client(base_url=server.url, headers=ADMIN, timeout=30)
    try:
        body = {"tenant": "default", "recovery": "circuit_break", "fallback_reply": FALLBACK}
        assert api.put("/admin/bots/echo", json=body).status_code == 201
        assert api.post("/admin/bots/echo/deploy", json={"version": "v1", "coze_bot_id": "bot-echo"}).status_code == 202
        wait_for(lambda: api.get("/admin/bots/echo").json()["bot"]["stable"])  # probes pass: v1 is stable
        listed = subprocess.run(
            [sys.executable, "-m", "cozegate", "bots", "list", "--url", server.url],
            env={**server.env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        [row] = [line for line in listed.stdout.splitlines() if "echo" in line and "default" in line]
        assert row.count("v1") == 2, row  # the version and the stable column

        simulator.inject(kind="http_error", status=500, code=5000, bot_id="bot-echo")
        incident: dict[str, Any] = wait_for(lambda: api.get("/admin/bots/echo").json()["incident"])
        assert incident["action"] == "circuit_break"
        wait_for(lambda: api.get("/admin/bots/echo").json()["incident"]["state"] == "recovering")

        send(server, backend, "evt-during", "are you there?")
        reply = wait_for(lambda: [r for r in receiver.snapshot() if r.webhook_id == "reply:evt-during"])[0]
        assert reply.body["message"] == {"role": "assistant", "content": FALLBACK}
        wait_for(lambda: chats.received["slack"])
        assert len(chats.received["slack"]) == 1
        assert "unhealthy" in chats.received["slack"][0]["text"]

        simulator.clear_faults()
        wait_for(lambda: api.get("/admin/bots/echo").json()["incident"] is None)
        send(server, backend, "evt-after", "hello again")
        reply = wait_for(lambda: [r for r in receiver.snapshot() if r.webhook_id == "reply:evt-after"])[0]
        assert reply.body["message"]["content"] == "echo: hello again"
        wait_for(lambda: len(chats.received["slack"]) == 2)
        assert "recovered" in chats.received["slack"][1]["text"]

        [closed] = api.get("/admin/incidents", params={"bot": "echo"}).json()["incidents"]
        assert closed["state"] == "closed"
        metrics = httpx.get(server.url + "/metrics", timeout=10).text
        assert 'cozegate_incidents_total{action="circuit_break",bot="echo"} 1.0' in metrics
        assert 'cozegate_probe_failures_total{bot="echo",check="canary"}' in metrics
    finally:
        assert server.stop(), server.logs()
