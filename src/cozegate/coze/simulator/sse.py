"""Server-sent events exactly as Coze frames them, and the streaming response that can misbehave on purpose.

Chat streams: ``event:<name>\\ndata:<json>\\n\\n`` (no space after the colon, as Coze sends them).
Workflow streams: ``id: <n>\\nevent: <Name>\\ndata: <json>\\n\\n``. cozepy reads exactly these fields, one line
each; ``StreamPlan`` adds the deviations a fault asks for (comment lines, a ``data`` split over two lines,
an error event, a cut, delays).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from cozegate.coze.simulator.envelopes import LOGID_HEADER
from cozegate.coze.simulator.faults import (
    SlowStreamFault,
    SseErrorEventFault,
    SseKeepaliveFault,
    SseMultilineFault,
    StreamCutFault,
)

SSE_MEDIA_TYPE = "text/event-stream"


def dump_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class SseEvent:
    fields: tuple[tuple[str, str], ...]
    separator: str = ""

    def encode(self, *, multiline: bool = False) -> bytes:
        lines: list[str] = []
        for name, value in self.fields:
            if multiline and name == "data":
                lines.extend(f"data:{self.separator}{part}" for part in _split_in_two(value))
            else:
                lines.append(f"{name}:{self.separator}{value}")
        return ("\n".join(lines) + "\n\n").encode()


def _split_in_two(value: str) -> list[str]:
    """Split after the first comma, so the two lines joined with a newline are still the same JSON."""
    cut = value.find(",") + 1 or max(1, len(value) // 2)
    return [value[:cut], value[cut:]]


def chat_event(name: str, data: Any) -> SseEvent:
    return SseEvent((("event", name), ("data", dump_json(data))))


def workflow_event(event_id: int, name: str, data: Any) -> SseEvent:
    return SseEvent((("id", str(event_id)), ("event", name), ("data", dump_json(data))), separator=" ")


ErrorEventFactory = Callable[[int, int, str], SseEvent]
"""(index of the event it replaces, code, msg) -> the stream's error event."""

StreamFault = StreamCutFault | SlowStreamFault | SseKeepaliveFault | SseMultilineFault | SseErrorEventFault


@dataclass
class StreamPlan:
    first_byte_delay_s: float = 0.0
    event_delay_s: float = 0.0
    cut_after: int | None = None
    abort_cut: bool = True
    keepalive_from: int = 0
    keepalive_every: int | None = None
    keepalive_comment: str = "ping"
    multiline_at: int | None = None
    error_after: int | None = None
    error_code: int = 5000
    error_msg: str = ""

    @classmethod
    def from_faults(cls, faults: list[StreamFault], first_byte_ms: int, default_error_msg: str) -> StreamPlan:
        plan = cls(first_byte_delay_s=first_byte_ms / 1000, error_msg=default_error_msg)
        for fault in faults:
            if isinstance(fault, StreamCutFault):
                plan.cut_after, plan.abort_cut = fault.after_events, fault.abort
            elif isinstance(fault, SlowStreamFault):
                plan.event_delay_s += fault.delay_ms / 1000
            elif isinstance(fault, SseKeepaliveFault):
                plan.keepalive_from, plan.keepalive_every = fault.after_events, fault.every
                plan.keepalive_comment = fault.comment
            elif isinstance(fault, SseMultilineFault):
                plan.multiline_at = fault.at_event
            else:
                plan.error_after, plan.error_code = fault.after_events, fault.code
                plan.error_msg = fault.msg or default_error_msg
        return plan


class SseResponse(StreamingResponse):
    """Streams events under a ``StreamPlan``; ``on_close`` runs however the stream ends."""

    def __init__(
        self,
        events: AsyncIterator[SseEvent],
        *,
        logid: str,
        plan: StreamPlan,
        error_event: ErrorEventFactory,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            (),  # the body is produced by __call__, which follows the plan
            media_type=SSE_MEDIA_TYPE,
            headers={LOGID_HEADER: logid, "Cache-Control": "no-cache"},
        )
        self.charset = "utf-8"
        self._events = events
        self._plan = plan
        self._error_event = error_event
        self._on_close = on_close
        self._disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = asyncio.ensure_future(self._watch_disconnect(receive))
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            finish = await self._stream(send)
        finally:
            # settle the server side first, so the client never sees the end before the state is final
            watcher.cancel()
            aclose = getattr(self._events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            if self._on_close is not None:
                self._on_close()
        if finish and not self._disconnected:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        # else: return with the body unfinished; the server drops the connection mid-stream

    async def _watch_disconnect(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._disconnected = True

    async def _stream(self, send: Send) -> bool:
        """Send the events; False when the plan cuts the connection without finishing the body."""
        plan = self._plan
        if plan.first_byte_delay_s:
            await asyncio.sleep(plan.first_byte_delay_s)
        index = 0
        async for event in self._events:
            if self._disconnected:
                return False
            if plan.error_after == index:
                await self._send(send, self._error_event(index, plan.error_code, plan.error_msg), index)
                return True
            if plan.cut_after == index:
                return not plan.abort_cut
            await self._send(send, event, index)
            index += 1
        if plan.error_after == index:
            await self._send(send, self._error_event(index, plan.error_code, plan.error_msg), index)
        return True

    async def _send(self, send: Send, event: SseEvent, index: int) -> None:
        plan = self._plan
        if plan.event_delay_s:
            await asyncio.sleep(plan.event_delay_s)
        chunk = b""
        every = plan.keepalive_every
        if every and index >= plan.keepalive_from and (index - plan.keepalive_from) % every == 0:
            chunk += f": {plan.keepalive_comment}\n\n".encode()
        chunk += event.encode(multiline=plan.multiline_at == index)
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await asyncio.sleep(0)  # let a disconnect be noticed before the next event
