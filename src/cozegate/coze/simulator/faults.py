"""Fault injection: what can go wrong (pydantic specs) and which faults fire for a request (``FaultBook``).

A fault is matched against a request by ``path`` (exact or glob, e.g. ``/v3/chat*``), ``endpoint`` (the
cozepy-style name, e.g. ``chat.create`` or ``chat.*``), ``method`` and ``bot_id``. ``skip`` lets that many
matching calls through first; ``count`` limits how many calls it fires on (``None``: every call). Faults
that shape an event stream (``stream_cut``, ``slow_stream``, ``sse_*``) only match streaming requests.
Every decision is counter-based: no randomness, so a scenario replays identically.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, TypeAdapter


class _FaultBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, description="URL path, exact or glob (/v3/chat*)")
    endpoint: str | None = Field(default=None, description="endpoint name, exact or glob (chat.create, chat.*)")
    method: str | None = Field(default=None, description="HTTP method (GET, POST, ...)")
    bot_id: str | None = Field(default=None, description="only requests about this bot")
    skip: NonNegativeInt = Field(default=0, description="let this many matching calls through first")
    count: PositiveInt | None = Field(default=None, description="fire on this many calls, then retire")


class LatencyFault(_FaultBase):
    """Delay the whole request before it is handled."""

    kind: Literal["latency"] = "latency"
    delay_ms: NonNegativeInt


class HttpErrorFault(_FaultBase):
    """Answer with an HTTP error instead of handling the request (default: 500 with Coze code 5000)."""

    kind: Literal["http_error"] = "http_error"
    status: int = Field(default=500, ge=400, le=599)
    code: int = 5000
    msg: str | None = None
    json_body: bool = Field(default=True, description="false: a plain-text body, as a proxy's error page")
    content_type: str | None = Field(default=None, description="override, e.g. text/event-stream")


class RateLimitFault(_FaultBase):
    """HTTP 429 with a Coze rate-limit code (4020 RPM; 4008 daily, 4009 system are the other two)."""

    kind: Literal["rate_limit"] = "rate_limit"
    status: int = Field(default=429, ge=400, le=599)
    code: Literal[4008, 4009, 4020] = 4020
    msg: str | None = None
    retry_after_s: NonNegativeInt | None = Field(
        default=None, description="adds a Retry-After header (a simulator extension: Coze documents none)"
    )


class SlowFirstByteFault(_FaultBase):
    """Delay the first byte: the JSON response, or (for streams) the first event after the headers."""

    kind: Literal["slow_first_byte"] = "slow_first_byte"
    delay_ms: NonNegativeInt


class StreamCutFault(_FaultBase):
    """Close the event stream after ``after_events`` events, without ``done``."""

    kind: Literal["stream_cut"] = "stream_cut"
    after_events: NonNegativeInt = 3
    abort: bool = Field(default=True, description="true: drop the connection mid-body; false: end the body cleanly")


class SlowStreamFault(_FaultBase):
    """Wait ``delay_ms`` before every event of a stream."""

    kind: Literal["slow_stream"] = "slow_stream"
    delay_ms: NonNegativeInt


class SseKeepaliveFault(_FaultBase):
    """Send an SSE comment line (``: ping``) before event ``after_events`` and then before every ``every``-th."""

    kind: Literal["sse_keepalive"] = "sse_keepalive"
    after_events: NonNegativeInt = 0
    every: PositiveInt = 1
    comment: str = "ping"


class SseMultilineFault(_FaultBase):
    """Split the ``data`` of event number ``at_event`` (0-based) over two ``data:`` lines (valid SSE)."""

    kind: Literal["sse_multiline"] = "sse_multiline"
    at_event: NonNegativeInt = 0


class SseErrorEventFault(_FaultBase):
    """After ``after_events`` events send the stream's error event ({code,msg}; workflows: Error) and stop."""

    kind: Literal["sse_error_event"] = "sse_error_event"
    after_events: NonNegativeInt = 2
    code: int = 5000
    msg: str | None = None


FaultSpec = Annotated[
    LatencyFault
    | HttpErrorFault
    | RateLimitFault
    | SlowFirstByteFault
    | StreamCutFault
    | SlowStreamFault
    | SseKeepaliveFault
    | SseMultilineFault
    | SseErrorEventFault,
    Field(discriminator="kind"),
]
FAULT_SPEC: TypeAdapter[FaultSpec] = TypeAdapter(FaultSpec)
STREAM_ONLY = (StreamCutFault, SlowStreamFault, SseKeepaliveFault, SseMultilineFault, SseErrorEventFault)


@dataclass(frozen=True)
class FaultTarget:
    """What a fault is matched against: one request, once its endpoint and bot are known."""

    method: str
    path: str
    endpoint: str
    bot_id: str | None
    stream: bool


@dataclass
class ActiveFault:
    id: str
    spec: FaultSpec
    seen: int = 0
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.spec.count is not None and self.fired >= self.spec.count

    def matches(self, target: FaultTarget) -> bool:
        spec = self.spec
        if isinstance(spec, STREAM_ONLY) and not target.stream:
            return False
        if spec.path is not None and not fnmatch.fnmatchcase(target.path, spec.path):
            return False
        if spec.endpoint is not None and not fnmatch.fnmatchcase(target.endpoint, spec.endpoint):
            return False
        if spec.method is not None and spec.method.upper() != target.method:
            return False
        return spec.bot_id is None or spec.bot_id == target.bot_id

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "seen": self.seen, "fired": self.fired, **self.spec.model_dump(exclude_none=True)}


@dataclass
class FiredFaults:
    """The faults that fire for one request, folded into what the dispatcher has to do."""

    ids: list[str] = field(default_factory=list)
    latency_ms: int = 0
    first_byte_ms: int = 0
    error: HttpErrorFault | RateLimitFault | None = None
    stream: list[StreamCutFault | SlowStreamFault | SseKeepaliveFault | SseMultilineFault | SseErrorEventFault] = field(
        default_factory=list
    )


class FaultBook:
    """The active faults, in the order they were added; every matching fault fires, until an error does."""

    def __init__(self) -> None:
        self._faults: list[ActiveFault] = []
        self._next = 1

    def add(self, spec: FaultSpec) -> ActiveFault:
        fault = ActiveFault(id=f"fault-{self._next}", spec=spec)
        self._next += 1
        self._faults.append(fault)
        return fault

    def remove(self, fault_id: str) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()

    def list(self) -> list[ActiveFault]:
        return list(self._faults)

    def select(self, target: FaultTarget) -> FiredFaults:
        fired = FiredFaults()
        for fault in self._faults:
            if fault.exhausted or not fault.matches(target):
                continue
            fault.seen += 1
            if fault.seen <= fault.spec.skip:
                continue
            fault.fired += 1
            fired.ids.append(fault.id)
            spec = fault.spec
            if isinstance(spec, LatencyFault):
                fired.latency_ms += spec.delay_ms
            elif isinstance(spec, SlowFirstByteFault):
                fired.first_byte_ms += spec.delay_ms
            elif isinstance(spec, HttpErrorFault | RateLimitFault):
                fired.error = spec
                break
            else:
                fired.stream.append(spec)
        return fired
