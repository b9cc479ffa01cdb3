"""The chat proxy over real HTTP: SSE relayed from the simulator, non-streaming answers, conversations
continued, tenant isolation, rate limits and a client disconnect that cancels the chat at Coze."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cozegate.coze.simulator import BotConfig, SimulatorConfig, create_simulator_app
from tests.conftest import Backend
from tests.support.inspect_db import audit_rows
from tests.support.jwks import AUDIENCE, ISSUER, JwksServer, SigningKey
from tests.support.server import ServerProcess
from tests.support.sim_server import SimServer
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("RS256")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    config = SimulatorConfig(
        tokens=["test-token", "acme-pat-1234"],
        bots=[BotConfig(id="bot-drip", kind="echo", delta_ms=100, words_per_delta=1)],
    )
    server = SimServer(create_simulator_app(config)).start()
    yield server
    server.stop()


def start(backend: Backend, key: SigningKey, sim: SimServer, bot: str = "bot-echo", **env: str) -> ServerProcess:
    jwks = JwksServer([key]).start()
    backend.default_tenant = {"bot_id": bot}
    settings = backend.settings_env(
        COZEGATE_JWT_ISSUER=ISSUER,
        COZEGATE_JWT_AUDIENCE=AUDIENCE,
        COZEGATE_JWT_JWKS_URL=jwks.url,
        COZEGATE_COZE_BASE_URL=sim.url,
        COZEGATE_HANDLER_MODULES="[]",
        **env,
    )
    return ServerProcess(settings, backend.tmp / f"proxy-{bot}.log").start()


def events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    parsed = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


def user(key: SigningKey, sub: str = "mei", tenant: str = "default") -> dict[str, str]:
    return {"authorization": f"Bearer {key.token(sub=sub, tenant=tenant, roles=['user'])}"}


def test_streaming_non_streaming_and_a_continued_conversation(
    backend: Backend, key: SigningKey, sim: SimServer
) -> None:
    server = start(backend, key, sim)
    try:
        streamed = httpx.post(server.url + "/v1/chat", json={"message": "hello there"}, headers=user(key), timeout=30)
        assert streamed.status_code == 200, streamed.text
        assert streamed.headers["content-type"].startswith("text/event-stream")
        relayed = events(streamed)
        assert relayed[0][0] == "chat"
        assert "".join(data["content"] for name, data in relayed if name == "delta") == "echo: hello there"
        assert relayed[-1][0] == "done"
        assert relayed[-1][1]["answer"] == "echo: hello there"
        conversation = relayed[-1][1]["conversation_id"]

        sim.clear_requests()
        again = httpx.post(
            server.url + "/v1/chat",
            json={"message": "and again", "conversation_id": conversation, "stream": False},
            headers=user(key),
            timeout=30,
        )
        assert again.status_code == 200, again.text
        assert again.json()["answer"] == "echo: and again"
        assert again.json()["conversation_id"] == conversation
        assert sim.requests("conversations.create") == []  # the same Coze conversation carried on
    finally:
        assert server.stop(), server.logs()


def test_isolation_and_input_errors(backend: Backend, key: SigningKey, sim: SimServer) -> None:
    server = start(backend, key, sim)
    try:
        url = server.url + "/v1/chat"
        assert httpx.post(url, json={"message": "x"}).status_code == 401
        other = httpx.post(url, json={"message": "x", "tenant": "default"}, headers=user(key, tenant="acme"))
        assert (other.status_code, other.json()["error"]["code"]) == (403, "forbidden_tenant")
        unknown = httpx.post(url, json={"message": "x"}, headers=user(key, tenant="acme"))
        assert unknown.status_code == 404
        bad = httpx.post(url, json={"message": ""}, headers=user(key))
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "bad_request")
    finally:
        assert server.stop(), server.logs()


def test_rate_limits_answer_429_with_retry_after(backend: Backend, key: SigningKey, sim: SimServer) -> None:
    server = start(backend, key, sim, COZEGATE_CHAT_USER_BURST="2", COZEGATE_CHAT_USER_RATE="0.01")
    try:
        url = server.url + "/v1/chat"
        body = {"message": "hi", "stream": False}
        assert [httpx.post(url, json=body, headers=user(key), timeout=30).status_code for _ in range(2)] == [200, 200]
        limited = httpx.post(url, json=body, headers=user(key), timeout=30)
        assert (limited.status_code, limited.json()["error"]["code"]) == (429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1
        assert httpx.post(url, json=body, headers=user(key, sub="omar"), timeout=30).status_code == 200
    finally:
        assert server.stop(), server.logs()


def test_a_client_that_disconnects_cancels_the_chat_at_coze(backend: Backend, key: SigningKey, sim: SimServer) -> None:
    server = start(backend, key, sim, bot="bot-drip")
    try:
        sim.clear_requests()
        words = " ".join(f"w{i}" for i in range(60))  # 6 s of deltas at 100 ms each
        with httpx.stream("POST", server.url + "/v1/chat", json={"message": words}, headers=user(key), timeout=30) as r:
            for line in r.iter_lines():
                if line.startswith("event: delta"):
                    break  # the first piece arrived: go away
        cancel = wait_for(lambda: sim.requests("chat.cancel"), timeout=10)
        assert len(cancel) == 1
    finally:
        assert server.stop(), server.logs()


def test_a_disconnect_in_a_continued_conversation_cancels_that_chat_at_coze(
    backend: Backend, key: SigningKey, sim: SimServer
) -> None:
    server = start(backend, key, sim, bot="bot-drip")
    try:
        url = server.url + "/v1/chat"
        first = {"message": "hi", "conversation_id": "my-conv-1", "stream": False}
        assert httpx.post(url, json=first, headers=user(key), timeout=30).status_code == 200
        sim.clear_requests()
        words = " ".join(f"w{i}" for i in range(60))
        again = {"message": words, "conversation_id": "my-conv-1"}
        with httpx.stream("POST", url, json=again, headers=user(key), timeout=30) as r:
            for line in r.iter_lines():
                if line.startswith("event: delta"):
                    break
        [cancel] = wait_for(lambda: sim.requests("chat.cancel"), timeout=10)
        [chat] = [r for r in sim.requests() if r["endpoint"] in ("chat.create", "chat.stream")]
        # the Coze conversation that carries "my-conv-1", not the client's own id
        assert cancel["body"]["conversation_id"] == chat["query"]["conversation_id"] != "my-conv-1"
    finally:
        assert server.stop(), server.logs()


def test_a_tenant_with_its_own_coze_account_and_limits(backend: Backend, key: SigningKey, sim: SimServer) -> None:
    backend.extra_tenants = {
        "acme": {
            "secrets": [{"value": backend.secret}],
            "bot_id": "bot-echo",
            "coze": {"token": {"env": "COZEGATE_TENANT_ACME_COZE"}},
            "chat_limits": {"user_burst": 1, "user_rate": 0.01},
        }
    }
    server = start(backend, key, sim, COZEGATE_TENANT_ACME_COZE="acme-pat-1234")
    try:
        sim.clear_requests()
        url = server.url + "/v1/chat"
        body = {"message": "hi", "stream": False}
        acme = httpx.post(url, json=body, headers=user(key, tenant="acme"), timeout=30)
        assert acme.status_code == 200, acme.text
        default = httpx.post(url, json=body, headers=user(key), timeout=30)
        assert default.status_code == 200, default.text
        hints = {r["token_hint"] for r in sim.requests("chat.create") + sim.requests("chat.stream")}
        assert hints == {"1234", "oken"}  # acme's own account, and the process's
        assert httpx.post(url, json=body, headers=user(key, tenant="acme"), timeout=30).status_code == 429
        assert httpx.post(url, json=body, headers=user(key), timeout=30).status_code == 200  # default's limits
        shown = httpx.get(server.url + "/admin/tenants", headers={"authorization": "Bearer test-admin-token"})
        assert shown.status_code == 409  # file source; the token never appears in any answer or log line
        assert "acme-pat-1234" not in server.logs()
    finally:
        assert server.stop(), server.logs()


def test_a_broken_stream_is_followed_to_its_end_and_cancels_nothing(
    backend: Backend, key: SigningKey, sim: SimServer
) -> None:
    """The stream ends after Coze announced the chat: the chat is polled to its end (asking again would post
    the user's message twice); a stream that ends before the announcement says so."""
    server = start(backend, key, sim)
    try:
        sim.clear_requests()
        sim.add_fault(kind="stream_cut", endpoint="chat.create", after_events=2, abort=False, count=1)
        r = httpx.post(server.url + "/v1/chat", json={"message": "a b c d e f"}, headers=user(key), timeout=30)
        relayed = events(r)
        assert relayed[-1][0] == "done"
        assert relayed[-1][1]["answer"] == "echo: a b c d e f"
        assert "".join(data["content"] for name, data in relayed if name == "delta") == "echo: a b c d e f"
        assert len([r for r in sim.requests("chat.create") if r["status"] == 200]) == 1
        time.sleep(0.3)  # a cancel would have been sent right away
        assert sim.requests("chat.cancel") == []
        sim.add_fault(kind="stream_cut", endpoint="chat.create", after_events=0, abort=False, count=1)
        r = httpx.post(server.url + "/v1/chat", json={"message": "a b c"}, headers=user(key), timeout=30)
        assert events(r)[-1][1]["code"] == "stream_incomplete"  # before Coze even announced the chat
    finally:
        sim.clear_faults()
        assert server.stop(), server.logs()


def test_a_failed_chat_is_a_502_with_cozes_code_and_log_id(backend: Backend, key: SigningKey, sim: SimServer) -> None:
    server = start(backend, key, sim, bot="bot-fail")
    try:
        r = httpx.post(server.url + "/v1/chat", json={"message": "hi", "stream": False}, headers=user(key), timeout=30)
        assert r.status_code == 502, r.text
        error = r.json()["error"]
        assert error["code"] == "chat_failed"
        assert error["details"]["coze_code"] == 5000
        assert error["details"]["coze_logid"]  # for Coze's support
        streamed = events(httpx.post(server.url + "/v1/chat", json={"message": "hi"}, headers=user(key), timeout=30))
        assert streamed[-1][0] == "error"
        assert (streamed[-1][1]["code"], streamed[-1][1]["coze_code"]) == ("chat_failed", 5000)
    finally:
        assert server.stop(), server.logs()


def test_client_side_tools_run_while_streaming(backend: Backend, key: SigningKey, sim: SimServer) -> None:
    server = start(backend, key, sim, bot="bot-tool", COZEGATE_TOOL_MODULES='["tests.support.lookup_tools:tools"]')
    try:
        r = httpx.post(server.url + "/v1/chat", json={"message": "where is my order"}, headers=user(key), timeout=30)
        relayed = events(r)
        assert relayed[-1][0] == "done", relayed
        assert relayed[-1][1]["answer"] == "Tool result: found 4 words"
    finally:
        assert server.stop(), server.logs()


def test_every_chat_is_in_the_transcript_and_the_audit_log(backend: Backend, key: SigningKey, sim: SimServer) -> None:
    server = start(backend, key, sim)
    try:
        url = server.url + "/v1/chat"
        first = events(httpx.post(url, json={"message": "hello"}, headers=user(key, sub="mei"), timeout=30))
        conversation = first[-1][1]["conversation_id"]
        again = {"message": "more", "conversation_id": conversation, "stream": False}
        assert httpx.post(url, json=again, headers=user(key, sub="mei"), timeout=30).status_code == 200
        admin = {"authorization": "Bearer test-admin-token"}
        lines = httpx.get(server.url + f"/v1/conversations/{conversation}/messages", headers=admin).json()["items"]
        assert [(m["role"], m["content"], m["user_id"]) for m in lines] == [
            ("user", "hello", "mei"),
            ("assistant", "echo: hello", "mei"),
            ("user", "more", "mei"),
            ("assistant", "echo: more", "mei"),
        ]
        audited = [r for r in audit_rows(backend) if r["action"] == "chat.proxy"]
        assert [json.loads(r["details"])["outcome"] for r in audited] == ["answered", "answered"]
        assert {r["target"] for r in audited} == {conversation}
        assert all("hello" not in r["details"] for r in audited)  # who and what happened, never the words
        erased = httpx.post(
            server.url + "/admin/privacy/erase", json={"tenant": "default", "user_id": "mei"}, headers=admin
        )
        assert erased.status_code == 200, erased.text
        left = httpx.get(server.url + f"/v1/conversations/{conversation}/messages", headers=admin).json()["items"]
        assert left == []
    finally:
        assert server.stop(), server.logs()


def test_conversations_belong_to_their_user_and_are_erased_with_them(
    backend: Backend, key: SigningKey, sim: SimServer
) -> None:
    server = start(backend, key, sim)
    try:
        url = server.url + "/v1/chat"
        first = events(httpx.post(url, json={"message": "hello"}, headers=user(key, sub="mei"), timeout=30))
        conversation = first[-1][1]["conversation_id"]
        again = {"message": "more", "conversation_id": conversation, "stream": False}
        assert httpx.post(url, json=again, headers=user(key, sub="mei"), timeout=30).status_code == 200
        stolen = httpx.post(url, json=again, headers=user(key, sub="omar"), timeout=30)
        assert stolen.status_code == 404  # another user's conversation: not even its existence

        sim.clear_requests()
        admin = {"authorization": "Bearer test-admin-token"}
        erased = httpx.post(
            server.url + "/admin/privacy/erase", json={"tenant": "default", "user_id": "mei"}, headers=admin
        ).json()
        assert erased["coze_conversations_deleted"] == 1
        assert len(sim.requests("conversations.delete")) == 1
        fresh = httpx.post(url, json=again, headers=user(key, sub="mei"), timeout=30)
        assert fresh.status_code == 200  # a new conversation under the old id: the erased one is gone
    finally:
        assert server.stop(), server.logs()
