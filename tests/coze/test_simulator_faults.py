"""Fault injection through the admin API, observed through cozepy. Durations: loose lower bounds only."""

from __future__ import annotations

import time
from collections.abc import Iterable

import httpx
import pytest
from cozepy import AsyncCoze, ChatEventType, Coze, CozeAPIError, CozeInvalidEventError, Message
from cozepy.chat import ChatEvent

from tests.support.sim_server import SimServer

q = Message.build_user_question_text


def drain(stream: Iterable[ChatEvent], seen: list[ChatEventType]) -> None:
    """Iterate a cozepy chat stream, noting each event, until it ends or raises."""
    for event in stream:
        seen.append(event.event)


def test_latency_delays_the_call(sim: SimServer, coze: Coze) -> None:
    sim.add_fault(kind="latency", endpoint="users.me", delay_ms=300, count=1)
    started = time.monotonic()
    coze.users.me()
    assert time.monotonic() - started >= 0.3
    assert sim.faults()[0]["fired"] == 1


def test_http_5xx_is_coze_code_5000_and_non_json_is_the_http_status(sim: SimServer, coze: Coze) -> None:
    sim.add_fault(kind="http_error", endpoint="bots.retrieve", count=1)
    with pytest.raises(CozeAPIError) as internal:
        coze.bots.retrieve(bot_id="bot-echo")
    assert internal.value.code == 5000
    assert internal.value.logid
    assert sim.requests("bots.retrieve")[-1]["status"] == 500

    sim.add_fault(kind="http_error", endpoint="bots.retrieve", status=502, json_body=False, count=1)
    with pytest.raises(CozeAPIError) as gateway:
        coze.bots.retrieve(bot_id="bot-echo")
    assert gateway.value.code == 502
    assert "502" in gateway.value.msg
    assert coze.bots.retrieve(bot_id="bot-echo").bot_id == "bot-echo"


def test_rate_limit_first_call_429_then_success(sim: SimServer, coze: Coze) -> None:
    sim.add_fault(kind="rate_limit", endpoint="chat.create", count=1, retry_after_s=2)
    with pytest.raises(CozeAPIError) as limited:
        coze.chat.create(bot_id="bot-echo", user_id="u", additional_messages=[q("x")])
    assert limited.value.code == 4020
    assert coze.chat.create(bot_id="bot-echo", user_id="u", additional_messages=[q("x")]).status == "in_progress"
    statuses = [r["status"] for r in sim.requests("chat.create")[-2:]]
    assert statuses == [429, 200]

    sim.add_fault(kind="rate_limit", endpoint="users.me", count=1, retry_after_s=2, code=4009)
    r = httpx.get(sim.url + "/v1/users/me", headers={"Authorization": "Bearer test-token"})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"
    assert r.json()["code"] == 4009


def test_skip_count_bot_and_endpoint_scoping(sim: SimServer, coze: Coze) -> None:
    sim.add_fault(kind="http_error", endpoint="chat.*", bot_id="bot-canned", skip=1, count=2)
    coze.chat.create(bot_id="bot-echo", user_id="u", additional_messages=[q("other bot")])
    coze.chat.create(bot_id="bot-canned", user_id="u", additional_messages=[q("skipped")])
    for _ in range(2):
        with pytest.raises(CozeAPIError):
            coze.chat.create(bot_id="bot-canned", user_id="u", additional_messages=[q("fails")])
    coze.chat.create(bot_id="bot-canned", user_id="u", additional_messages=[q("retired")])
    (fault,) = sim.faults()
    assert (fault["seen"], fault["fired"]) == (3, 2)


def test_faults_match_bot_of_a_chat_by_its_ids(sim: SimServer, coze: Coze) -> None:
    chat = coze.chat.create(bot_id="bot-canned", user_id="u", additional_messages=[q("hello")])
    sim.add_fault(kind="http_error", path="/v3/chat/retrieve", bot_id="bot-canned", count=1)
    with pytest.raises(CozeAPIError):
        coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert sim.requests("chat.retrieve")[-1]["bot_id"] == "bot-canned"


def test_stream_cut_drops_the_connection_mid_answer(sim: SimServer, coze: Coze) -> None:
    sim.add_fault(kind="stream_cut", endpoint="chat.create", after_events=3, count=1)
    seen: list[ChatEventType] = []
    with pytest.raises(httpx.RemoteProtocolError):
        drain(coze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("one two three")]), seen)
    assert seen[-1] == ChatEventType.CONVERSATION_MESSAGE_DELTA
    assert len(seen) == 3


def test_stream_cut_with_a_clean_close_just_ends_the_iterator_early(sim: SimServer, coze: Coze) -> None:
    sim.add_fault(kind="stream_cut", endpoint="chat.create", after_events=3, abort=False)
    events = list(coze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("one two three")]))
    assert len(events) == 3
    assert ChatEventType.CONVERSATION_CHAT_COMPLETED not in [e.event for e in events]
    # the server side of the chat still finished, as Coze's would
    chat = events[0].chat
    assert chat is not None
    assert coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id).status == "completed"


async def test_stream_cut_async(sim: SimServer, acoze: AsyncCoze) -> None:
    sim.add_fault(kind="stream_cut", endpoint="chat.create", after_events=1)
    with pytest.raises(httpx.RemoteProtocolError):
        async for _ in acoze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("x")]):
            pass


def test_slow_first_byte_on_a_stream_and_on_json(sim: SimServer, coze: Coze) -> None:
    sim.add_fault(kind="slow_first_byte", endpoint="chat.create", delay_ms=300, count=1)
    started = time.monotonic()
    stream = coze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("x")])
    first = next(iter(stream))
    assert first.event == ChatEventType.CONVERSATION_CHAT_CREATED
    assert time.monotonic() - started >= 0.3
    list(stream)

    sim.add_fault(kind="slow_first_byte", endpoint="users.me", delay_ms=200, count=1)
    started = time.monotonic()
    coze.users.me()
    assert time.monotonic() - started >= 0.2


def test_slow_stream_paces_every_event(sim: SimServer, coze: Coze) -> None:
    sim.add_fault(kind="slow_stream", endpoint="chat.create", delay_ms=40, count=1)
    started = time.monotonic()
    events = list(coze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("a b")]))
    assert time.monotonic() - started >= 0.04 * len(events)


def test_http_error_as_event_stream_is_what_cozepy_reports_as_an_invalid_event(sim: SimServer, coze: Coze) -> None:
    """Seen from real Coze (coze-py issue #78): a JSON error sent with an event-stream content type."""
    sim.add_fault(kind="http_error", endpoint="chat.create", status=401, code=4100, content_type="text/event-stream")
    with pytest.raises(CozeInvalidEventError) as err:
        list(coze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("x")]))
    assert '"code":4100' in err.value.data


def test_admin_api_lists_removes_and_validates_faults(sim: SimServer) -> None:
    r = sim.admin.post(
        "/sim/faults",
        json={"faults": [{"kind": "latency", "delay_ms": 1, "path": "/v1/*"}, {"kind": "rate_limit"}]},
    )
    assert r.status_code == 201
    ids = [f["id"] for f in r.json()["faults"]]
    assert [f["kind"] for f in sim.faults()] == ["latency", "rate_limit"]
    assert sim.admin.delete(f"/sim/faults/{ids[1]}").json() == {"removed": 1}
    assert sim.admin.delete("/sim/faults/nope").status_code == 404
    assert [f["id"] for f in sim.faults()] == ids[:1]

    bad = sim.admin.post("/sim/faults", json={"kind": "latency"})
    assert bad.status_code == 422
    bad = sim.admin.post("/sim/faults", json={"kind": "earthquake"})
    assert bad.status_code == 422
    bad = sim.admin.post("/sim/faults", json={"kind": "stream_cut", "after_events": 1, "typo": True})
    assert bad.status_code == 422


def test_request_log_records_what_was_received(sim: SimServer, coze: Coze) -> None:
    sim.clear_requests()
    sim.add_fault(kind="latency", endpoint="users.me", delay_ms=1)
    coze.users.me()
    (record,) = sim.requests()
    assert record["endpoint"] == "users.me"
    assert record["method"] == "GET"
    assert record["path"] == "/v1/users/me"
    assert record["auth"] == "ok"
    assert record["token_hint"] == "oken"
    assert "authorization" not in record["headers"]
    assert record["status"] == 200
    assert record["faults"] == [sim.faults()[0]["id"]]
    assert record["headers"]["user-agent"].startswith("cozepy/")
