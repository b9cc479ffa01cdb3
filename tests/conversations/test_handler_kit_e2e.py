"""Handlers get what they ask for, in a real server on both backends: a ``before`` hook runs beside the
built-in pipeline (which still answers), and a handler of its own asks Coze with the tenant's client
and says two things back through the outbox (signed, each under its own stable webhook-id)."""

from __future__ import annotations

import json

import httpx

from tests.conftest import Backend
from tests.support.pipeline_gateway import gateway, send
from tests.support.receiver import ReplyReceiver
from tests.support.signing import standard_headers
from tests.support.simulator import SimulatorProcess
from tests.support.waiting import wait_for


def test_hooks_compose_with_the_pipeline_and_handlers_say_through_the_outbox(
    backend: Backend, simulator: SimulatorProcess, receiver: ReplyReceiver
) -> None:
    server = gateway(backend, simulator, receiver, COZEGATE_HANDLER_MODULES='["tests.support.kit_handlers:handlers"]')
    try:
        send(server, backend, "evt-1", "hello", conversation="c-kit")
        send(server, backend, "evt-2", "again", conversation="c-kit")
        wait_for(lambda: len(receiver.snapshot()) == 2)
        body = json.dumps({"event_type": "ticket_created", "event_id": "tkt-1", "conversation_id": "c-kit"}).encode()
        r = httpx.post(server.url + "/coze/webhook", content=body, headers=standard_headers(backend.secret, body))
        assert r.status_code == 200, r.text
        wait_for(lambda: len(receiver.snapshot()) == 5)
        said = {reply.webhook_id: reply.body["message"]["content"] for reply in receiver.snapshot()}
        assert said == {
            "reply:evt-1": "echo: hello",  # the built-in pipeline still answered
            "reply:evt-2": "echo: again",
            "say:1:tkt-1": "hello",  # said by a before hook
            "say:2:tkt-1": "ticket tkt-1 opened; Echo will answer",
            "say:3:tkt-1": "messages so far: 2",  # the message_create hook ran once per message
        }
        assert [r for r in simulator.requests() if r.get("endpoint") == "bots.retrieve"]
    finally:
        assert server.stop(), server.logs()
