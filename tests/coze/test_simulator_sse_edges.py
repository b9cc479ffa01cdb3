"""SSE edge cases, and what cozepy 0.20 actually does with each (our client has to live with it).

- ``done`` (``data:"[DONE]"``): cozepy swallows it; iteration ends when the body ends.
- keep-alive comment (``: ping``): cozepy is strict -> ``CozeInvalidEventError`` (valid SSE, though).
- ``data`` split over two lines (valid SSE): cozepy reads one line per field, so it parses half a JSON
  document -> ``pydantic.ValidationError`` (json_invalid).
- chat ``event:error`` with ``{code,msg}``: cozepy raises a plain ``Exception("error event: ...")``.
- workflow ``Error`` event: not raised; yielded as ``WorkflowEvent(event=ERROR, error=...)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import httpx
import pydantic
import pytest
from cozepy import AsyncCoze, ChatEventType, Coze, CozeInvalidEventError, Message, WorkflowEventType
from cozepy.chat import ChatEvent

from tests.support.sim_server import SimServer

q = Message.build_user_question_text


def drain(stream: Iterable[ChatEvent], seen: list[ChatEventType]) -> None:
    """Iterate a cozepy chat stream, noting each event, until it ends or raises."""
    for event in stream:
        seen.append(event.event)


def raw_stream(sim: SimServer, bot_id: str, text: str) -> str:
    body = {
        "bot_id": bot_id,
        "user_id": "u",
        "stream": True,
        "additional_messages": [{"role": "user", "content": text}],
    }
    r = httpx.post(sim.url + "/v3/chat", json=body, headers={"Authorization": "Bearer test-token"}, timeout=10)
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-tt-logid"]
    return r.text


def test_wire_format_is_event_and_data_lines_and_ends_with_done(sim: SimServer, coze: Coze) -> None:
    text = raw_stream(sim, "bot-echo", "hi")
    frames = [f for f in text.split("\n\n") if f]
    assert frames[0].startswith("event:conversation.chat.created\ndata:{")
    assert all(len(f.split("\n")) == 2 for f in frames)
    assert frames[-1] == 'event:done\ndata:"[DONE]"'

    events = list(coze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("hi")]))
    assert ChatEventType.DONE not in [e.event for e in events]  # cozepy drops done
    assert events[-1].event == ChatEventType.CONVERSATION_CHAT_COMPLETED


def test_workflow_wire_format_has_id_event_data_and_a_done_event(sim: SimServer) -> None:
    r = httpx.post(
        sim.url + "/v1/workflow/stream_run",
        json={"workflow_id": "wf-echo", "parameters": {"input": "a b"}},
        headers={"Authorization": "Bearer test-token"},
    )
    frames = [f.split("\n") for f in r.text.split("\n\n") if f]
    assert frames[0][0] == "id: 0"
    assert frames[0][1] == "event: Message"
    assert frames[0][2].startswith("data: {")
    assert frames[-1][1] == "event: Done"
    assert "debug_url" in json.loads(frames[-1][2][len("data: ") :])


def test_keepalive_comment_makes_cozepy_raise_invalid_event(sim: SimServer, coze: Coze) -> None:
    sim.add_fault(kind="sse_keepalive", endpoint="chat.create", after_events=2, every=3)
    seen: list[ChatEventType] = []
    with pytest.raises(CozeInvalidEventError) as err:
        drain(coze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("a b c")]), seen)
    assert err.value.data == ": ping"
    assert seen == [ChatEventType.CONVERSATION_CHAT_CREATED, ChatEventType.CONVERSATION_CHAT_IN_PROGRESS]
    assert "\n: ping\n" in "\n" + raw_stream_with_fault(sim, kind="sse_keepalive", endpoint="chat.create")


def raw_stream_with_fault(sim: SimServer, **fault: object) -> str:
    sim.clear_faults()
    sim.add_fault(**fault)
    return raw_stream(sim, "bot-echo", "x")


async def test_keepalive_comment_async(sim: SimServer, acoze: AsyncCoze) -> None:
    sim.add_fault(kind="sse_keepalive", endpoint="chat.create")
    with pytest.raises(CozeInvalidEventError):
        async for _ in acoze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("x")]):
            pass


def test_multiline_data_is_valid_sse_but_cozepy_parses_half_a_document(sim: SimServer, coze: Coze) -> None:
    text = raw_stream_with_fault(sim, kind="sse_multiline", endpoint="chat.create", at_event=2)
    frame = text.split("\n\n")[2].split("\n")
    assert frame[0] == "event:conversation.message.delta"
    assert frame[1].startswith("data:")
    assert frame[2].startswith("data:")
    joined = "\n".join(line[len("data:") :] for line in frame[1:])
    assert json.loads(joined)["type"] == "answer"  # the SSE-joined data is intact JSON

    sim.clear_faults()
    sim.add_fault(kind="sse_multiline", endpoint="chat.create", at_event=2)
    seen: list[ChatEventType] = []
    with pytest.raises(pydantic.ValidationError) as err:
        drain(coze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("a b")]), seen)
    assert err.value.errors()[0]["type"] == "json_invalid"
    assert len(seen) == 2


async def test_multiline_data_async(sim: SimServer, acoze: AsyncCoze) -> None:
    sim.add_fault(kind="sse_multiline", endpoint="chat.create", at_event=0)
    with pytest.raises(pydantic.ValidationError):
        async for _ in acoze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("x")]):
            pass


def test_error_event_raises_a_plain_exception_after_the_events_before_it(sim: SimServer, coze: Coze) -> None:
    sim.add_fault(kind="sse_error_event", endpoint="chat.create", after_events=3, code=4009, msg="busy")
    seen: list[ChatEventType] = []
    with pytest.raises(Exception, match=r"^error event: ") as err:
        drain(coze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("a b c")]), seen)
    assert type(err.value) is Exception
    assert json.loads(str(err.value).removeprefix("error event: ")) == {"code": 4009, "msg": "busy"}
    assert len(seen) == 3


async def test_error_event_async(sim: SimServer, acoze: AsyncCoze) -> None:
    sim.add_fault(kind="sse_error_event", endpoint="chat.create", after_events=0)
    with pytest.raises(Exception, match="error event"):
        async for _ in acoze.chat.stream(bot_id="bot-echo", user_id="u", additional_messages=[q("x")]):
            pass


def test_workflow_stream_edges(sim: SimServer, coze: Coze) -> None:
    sim.add_fault(kind="sse_error_event", endpoint="workflows.runs.stream", after_events=1, code=5000, msg="boom")
    events = list(coze.workflows.runs.stream(workflow_id="wf-echo", parameters={"input": "a b c d"}))
    assert [e.event for e in events] == [WorkflowEventType.MESSAGE, WorkflowEventType.ERROR]
    assert events[1].id == 1
    assert events[1].error is not None
    assert events[1].error.error_message == "boom"

    sim.clear_faults()
    sim.add_fault(kind="sse_keepalive", endpoint="workflows.runs.stream")
    with pytest.raises(CozeInvalidEventError):
        list(coze.workflows.runs.stream(workflow_id="wf-echo", parameters={"input": "x"}))
