"""Traffic follows the release the lifecycle considers live: after `deploy` the tenant's messages go to the
deployed Coze bot (not the tenants file's bot_id), a failed deploy rolls traffic back with the release,
and a terminated bot hands the tenant back to its bot_id. Real processes, both backends."""

from __future__ import annotations

import httpx

from tests.conftest import Backend
from tests.support.pipeline_gateway import gateway, send
from tests.support.receiver import ReplyReceiver
from tests.support.simulator import SimulatorProcess
from tests.support.waiting import wait_for

ADMIN = {"authorization": "Bearer test-admin-token"}


def test_traffic_follows_the_live_release(
    backend: Backend, simulator: SimulatorProcess, receiver: ReplyReceiver
) -> None:
    server = gateway(backend, simulator, receiver, bot="bot-echo")
    api = httpx.Client(base_url=server.url, headers=ADMIN, timeout=30)
    try:
        answers = lambda: [r.body["message"]["content"] for r in receiver.snapshot()]  # noqa: E731
        assert api.put("/admin/bots/support", json={"tenant": "default"}).status_code in (200, 201)
        deployed = api.post("/admin/bots/support/deploy", json={"version": "v1", "coze_bot_id": "bot-canned"})
        assert deployed.status_code in (200, 202), deployed.text
        wait_for(lambda: api.get("/admin/bots/support").json()["bot"]["state"] == "running")
        send(server, backend, "evt-1", "hello")
        wait_for(lambda: len(answers()) == 1)
        assert answers()[-1] == "Hello! How can I help you today?"  # bot-canned, the deployed release

        simulator.inject(kind="latency", endpoint="bots.publish", delay_ms=3000, count=1)
        slow = api.post("/admin/bots/support/deploy", json={"version": "v1b", "coze_bot_id": "bot-knowledge"})
        assert slow.status_code == 202, slow.text
        assert api.get("/admin/bots/support").json()["bot"]["state"] == "deploying"
        send(server, backend, "evt-1b", "hello")  # while v1b deploys, v1 still serves
        wait_for(lambda: len(answers()) == 2)
        assert answers()[-1] == "Hello! How can I help you today?"
        assert api.get("/admin/bots/support").json()["bot"]["state"] == "deploying", "the deploy outlived the answer"
        wait_for(lambda: api.get("/admin/bots/support").json()["bot"]["state"] == "running")
        assert api.post("/admin/bots/support/deploy", json={"version": "v1", "coze_bot_id": "bot-canned"}).is_success
        wait_for(lambda: api.get("/admin/bots/support").json()["bot"]["version"] == "v1")

        failing = api.post("/admin/bots/support/deploy", json={"version": "v2", "coze_bot_id": "bot-missing"})
        assert failing.status_code in (200, 202), failing.text
        wait_for(lambda: api.get("/admin/bots/support").json()["bot"]["state"] == "running")
        assert api.get("/admin/bots/support").json()["bot"]["version"] == "v1"  # rolled back
        send(server, backend, "evt-2", "hello")
        wait_for(lambda: len(answers()) == 3)
        assert answers()[-1] == "Hello! How can I help you today?"  # still the live release, v1

        assert api.post("/admin/bots/support/terminate").status_code in (200, 202)
        wait_for(lambda: api.get("/admin/bots/support").json()["bot"]["state"] == "terminated")
        send(server, backend, "evt-3", "hello")
        wait_for(lambda: len(answers()) == 4)
        assert answers()[-1] == "echo: hello"  # no managed bot live: the tenants file's bot_id
    finally:
        assert server.stop(), server.logs()
