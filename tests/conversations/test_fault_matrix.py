"""Exactly once at Coze, over real processes on both backends: for each fault, one signed event makes
exactly one chat at Coze (the simulator's successful chat creations for it) and its user gets exactly
one answer (the bot's, or the tenant's fallback reply).

Faults: Coze answers 5xx, 429, the stream is cut before and after Coze announced the chat, the chat
runs past its deadline, the gateway is killed (SIGKILL) during the chat, the reply URL is down, and
Coze reports the chat failed. The matrix is printed (``pytest -s``).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.support.inspect_db import inbox_rows
from tests.support.pipeline_gateway import REPLY_SECRET, send
from tests.support.receiver import ReplyReceiver
from tests.support.server import ServerProcess
from tests.support.simulator import SimulatorProcess
from tests.support.waiting import wait_for

FALLBACK = "Sorry, the assistant could not answer this time."
STOPS = {  # faults that stop the gateway during the chat (then it starts again)
    "gateway killed (SIGKILL) during the chat": signal.SIGKILL,
    "gateway stopped (SIGTERM) before Coze announced the chat": signal.SIGTERM,  # its event is given back
}


@dataclass
class Outcome:
    fault: str
    chats: int
    cancels: int
    answers: list[str]
    dead: bool


def chats_created(simulator: SimulatorProcess, since: int) -> int:
    """Chats Coze made: chat creations it answered with 200, cut streams included (an error answer made none)."""
    return sum(
        1 for r in simulator.requests() if r["seq"] > since and r["endpoint"] == "chat.create" and r["status"] == 200
    )


def last_seq(simulator: SimulatorProcess) -> int:
    return max((r["seq"] for r in simulator.requests()), default=0)


def start_gateway(backend: Backend, simulator: SimulatorProcess, receiver: ReplyReceiver, log: str) -> ServerProcess:
    backend.default_tenant = {
        "bot_id": "bot-echo",
        "reply_url": receiver.url,
        "reply_secret": {"value": REPLY_SECRET},
        "fallback_reply": FALLBACK,
    }
    env = backend.settings_env(
        COZEGATE_COZE_BASE_URL=simulator.url,
        COZEGATE_HANDLER_MODULES="[]",
        COZEGATE_COZE_MAX_ATTEMPTS="3",
        COZEGATE_HANDLER_TIMEOUT_SECONDS="4",
        COZEGATE_LEASE_SECONDS="6",
        COZEGATE_SHUTDOWN_GRACE_SECONDS="0.2",
    )
    return ServerProcess(env, backend.tmp / log).start()


@pytest.mark.slow
def test_every_fault_makes_one_chat_at_coze_and_one_answer(
    backend: Backend, simulator: SimulatorProcess, receiver: ReplyReceiver
) -> None:
    server = start_gateway(backend, simulator, receiver, "gateway-1.log")
    outcomes: list[Outcome] = []
    servers = [server]

    def run(fault: str, event_id: str, text: str, setup: Callable[[], Any] = lambda: None) -> None:
        simulator.clear_faults()
        since = last_seq(simulator)
        before = len(receiver.snapshot())
        setup()
        send(servers[-1], backend, event_id, text, conversation=f"c-{event_id}")
        if fault in STOPS:
            wait_for(lambda: any(r["endpoint"] == "chat.create" for r in simulator.requests() if r["seq"] > since))
            time.sleep(0.5)  # the chat is under way at Coze
            servers[-1].proc.send_signal(STOPS[fault])  # type: ignore[union-attr]
            servers[-1].proc.wait(timeout=30)  # type: ignore[union-attr]
            servers.append(start_gateway(backend, simulator, receiver, f"gateway-{len(servers) + 1}.log"))

        def settled() -> bool:
            rows = [r for r in inbox_rows(backend) if r["dedup_key"] in (event_id, f"reply:{event_id}")]
            return bool(rows) and all(r["status"] in ("done", "dead") for r in rows)

        wait_for(settled, timeout=60)
        time.sleep(0.3)
        answers = [r.body["message"]["content"] for r in receiver.snapshot()[before:]]
        dead = any(r["status"] == "dead" for r in inbox_rows(backend) if r["dedup_key"] == event_id)
        cancels = sum(1 for r in simulator.requests() if r["seq"] > since and r["endpoint"] == "chat.cancel")
        outcomes.append(Outcome(fault, chats_created(simulator, since), cancels, answers, dead))

    try:
        run("none", "e-ok", "hello")
        run("Coze 5xx", "e-5xx", "hello", lambda: simulator.inject(kind="http_error", endpoint="chat.create", count=1))
        run("Coze 429", "e-429", "hello", lambda: simulator.inject(kind="rate_limit", endpoint="chat.create", count=1))
        run(
            "stream cut before the chat id",
            "e-cut0",
            "hello",
            lambda: simulator.inject(kind="stream_cut", endpoint="chat.create", after_events=0, count=1),
        )
        run(
            "stream cut after the chat id",
            "e-cut2",
            "hello there",
            lambda: simulator.inject(kind="stream_cut", endpoint="chat.create", after_events=2, count=1),
        )
        run(
            "chat slower than its deadline",
            "e-slow",
            "one two three four five six seven eight",
            lambda: simulator.inject(kind="slow_stream", endpoint="chat.create", delay_ms=1500, count=1),
        )
        run(
            "gateway killed (SIGKILL) during the chat",
            "e-kill",
            "one two three four",
            lambda: simulator.inject(kind="slow_stream", endpoint="chat.create", delay_ms=400, count=1),
        )
        run(
            "gateway stopped (SIGTERM) before Coze announced the chat",
            "e-term",
            "five six",
            lambda: simulator.inject(kind="slow_first_byte", endpoint="chat.create", delay_ms=3000, count=1),
        )
        run(
            "Coze slow to make the conversation, then the chat",
            "e-slow-setup",
            "one two three four five six",
            lambda: (
                simulator.inject(kind="latency", endpoint="conversations.create", delay_ms=2000, count=1),
                simulator.inject(kind="slow_stream", endpoint="chat.create", delay_ms=1000, count=1),
            ),
        )
        run("reply URL down", "e-reply", "hello", lambda: setattr(receiver, "fail_next", 3))
        retarget(backend, servers[-1], bot_id="bot-fail")
        run("Coze reports the chat failed", "e-fail", "hello")
        retarget(backend, servers[-1], bot_id="bot-fail", fallback_reply=None)
        run("chat failed, no fallback reply", "e-fail-dl", "hello")
    finally:
        for stopped in servers[:-1]:
            stopped.proc = None  # stopped on purpose
        print_matrix(outcomes)
        assert servers[-1].stop(), servers[-1].logs()
    by_fault = {o.fault: o for o in outcomes}
    for outcome in outcomes:
        assert outcome.chats == 1, outcome
        if outcome.fault != "chat failed, no fallback reply":
            assert len(outcome.answers) == 1, outcome
    assert by_fault["Coze reports the chat failed"].answers == [FALLBACK]
    unanswered = by_fault["chat failed, no fallback reply"]
    assert (unanswered.answers, unanswered.dead) == ([], True)
    [dead] = [r for r in inbox_rows(backend) if r["dedup_key"] == "e-fail-dl"]
    assert "code 5000" in dead["last_error"]
    assert "logid " in dead["last_error"]  # Coze's log id, for its support
    assert by_fault["chat slower than its deadline"].answers == [FALLBACK]
    assert by_fault["chat slower than its deadline"].cancels == 1  # abandoned at its deadline: cancelled at Coze
    assert by_fault["gateway killed (SIGKILL) during the chat"].answers == ["echo: one two three four"]
    assert by_fault["gateway stopped (SIGTERM) before Coze announced the chat"].answers == ["echo: five six"]
    late = by_fault["Coze slow to make the conversation, then the chat"]  # the handler's deadline counts it all
    assert (late.answers, late.cancels) == ([FALLBACK], 1)
    assert not any("handler timed out" in str(r["attempt_log"]) for r in inbox_rows(backend))
    # the stream cut before the chat id left no record: the next attempt found the chat by its tag
    assert "found the chat of an unrecorded attempt" in servers[0].logs() + servers[-1].logs()


def retarget(backend: Backend, server: ServerProcess, **tenant: Any) -> None:
    """Change tenant ``default`` in the tenants file and wait until the server runs the new version."""
    admin = {"authorization": "Bearer test-admin-token"}
    before = httpx.get(server.url + "/admin/config", headers=admin).json()["version"]
    backend.default_tenant = {k: v for k, v in {**backend.default_tenant, **tenant}.items() if v is not None}
    backend.write_tenants()
    wait_for(lambda: httpx.get(server.url + "/admin/config", headers=admin).json()["version"] != before)


def print_matrix(outcomes: list[Outcome]) -> None:
    print(f"\n{'fault':58s} chats at Coze  cancels  answers  dead-lettered")
    for o in outcomes:
        print(f"{o.fault:58s} {o.chats:13d} {o.cancels:8d} {len(o.answers):8d}  {o.dead}")
