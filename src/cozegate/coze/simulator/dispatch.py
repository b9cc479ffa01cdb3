"""From an HTTP request to a Coze response: parse, log, authenticate, inject faults, call the handler, envelope.

Each Coze endpoint is an ``Endpoint`` (name, path, methods, handler). Handlers are
``async (CozeRequest, Simulator) -> JsonReply | StreamReply`` and raise ``CozeError`` for Coze errors.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cozegate.coze.simulator.context import Simulator
from cozegate.coze.simulator.envelopes import (
    LOGID_HEADER,
    MESSAGES,
    CozeCode,
    CozeError,
    error_body,
    json_response,
)
from cozegate.coze.simulator.faults import FaultTarget, FiredFaults, HttpErrorFault, RateLimitFault
from cozegate.coze.simulator.sse import ErrorEventFactory, SseEvent, SseResponse, StreamPlan, dump_json


@dataclass
class CozeRequest:
    method: str
    path: str
    endpoint: str
    logid: str
    query: dict[str, str]
    path_params: dict[str, str]
    headers: Headers
    raw_body: bytes
    body: Any = None

    def param(self, name: str) -> str | None:
        """A query parameter; empty counts as absent (cozepy sends ``conversation_id=`` for "none")."""
        value = self.query.get(name)
        return value or None

    def require_param(self, name: str) -> str:
        value = self.param(name)
        if value is None:
            raise CozeError(CozeCode.BAD_PARAMS, f"Request parameter error: {name} is required")
        return value

    @property
    def json(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}

    def field(self, name: str, default: Any = None) -> Any:
        value = self.json.get(name)
        return default if value is None else value

    def require_field(self, name: str) -> Any:
        value = self.json.get(name)
        if value is None or value == "":
            raise CozeError(CozeCode.BAD_PARAMS, f"Request parameter error: {name} is required")
        return value

    def int_param(self, name: str, default: int) -> int:
        value = self.param(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError as exc:
            raise CozeError(CozeCode.BAD_PARAMS, f"Request parameter error: {name} must be an integer") from exc


@dataclass
class JsonReply:
    body: dict[str, Any]
    status: int = 200


@dataclass
class StreamReply:
    events: AsyncIterator[SseEvent]
    error_event: ErrorEventFactory
    on_close: Callable[[], None] | None = None


Reply = JsonReply | StreamReply
Handler = Callable[[CozeRequest, Simulator], Awaitable[Reply]]


def _never(_: CozeRequest) -> bool:
    return False


def body_stream_flag(call: CozeRequest) -> bool:
    return call.json.get("stream") is True


def always(_: CozeRequest) -> bool:
    return True


@dataclass(frozen=True)
class Endpoint:
    name: str  # cozepy-style: chat.create, conversations.messages.list, ...
    path: str
    methods: tuple[str, ...]
    handler: Handler
    streams: Callable[[CozeRequest], bool] = _never
    auth: bool = True
    json_body: bool = True  # False: the handler reads ``raw_body`` itself (multipart upload)


def routes_for(endpoints: tuple[Endpoint, ...], sim: Simulator) -> list[Route]:
    return [_route(endpoint, sim) for endpoint in endpoints]


def _route(endpoint: Endpoint, sim: Simulator) -> Route:
    async def handle(request: Request) -> Response:
        return await dispatch(endpoint, sim, request)

    return Route(endpoint.path, handle, methods=list(endpoint.methods), name=endpoint.name)


def request_logid(request: Request, sim: Simulator) -> str:
    logid = request.scope.get("state", {}).get("logid")
    return logid if isinstance(logid, str) else sim.ids.logid()


async def dispatch(endpoint: Endpoint, sim: Simulator, request: Request) -> Response:
    logid = request_logid(request, sim)
    sim.state.advance()
    call = CozeRequest(
        method=request.method,
        path=request.url.path,
        endpoint=endpoint.name,
        logid=logid,
        query=dict(request.query_params),
        path_params={k: str(v) for k, v in request.path_params.items()},
        headers=request.headers,
        raw_body=await request.body(),
    )
    record = sim.log.record(
        logid=logid,
        at=sim.clock.wall(),
        method=call.method,
        path=call.path,
        endpoint=call.endpoint,
        query=call.query,
        headers=call.headers,
    )
    fired = FiredFaults()
    try:
        authorization = call.headers.get("authorization")
        record.token_hint = (authorization or "")[-4:]
        if endpoint.auth:
            record.auth = "missing" if not authorization else "invalid"
            sim.auth.check(authorization)
            record.auth = "ok"
        if endpoint.json_body and call.raw_body.strip():
            try:
                call.body = json.loads(call.raw_body)
            except ValueError as exc:
                raise CozeError(CozeCode.BAD_PARAMS, "Request parameter error: the body is not valid JSON") from exc
            record.body = call.body
        record.bot_id = bot_id_of(call, sim)
        record.stream = endpoint.streams(call)
        fired = sim.faults.select(FaultTarget(call.method, call.path, call.endpoint, record.bot_id, record.stream))
        record.faults = fired.ids
        if fired.latency_ms:
            await asyncio.sleep(fired.latency_ms / 1000)
        if fired.error is not None:
            response = fault_response(fired.error, logid)
        else:
            response = build_response(await endpoint.handler(call, sim), logid, fired)
    except CozeError as exc:
        response = json_response(error_body(exc.code, exc.msg, exc.debug_url), logid, exc.status)
    if fired.first_byte_ms and not isinstance(response, SseResponse):
        await asyncio.sleep(fired.first_byte_ms / 1000)
    record.status = response.status_code
    return response


def bot_id_of(call: CozeRequest, sim: Simulator) -> str | None:
    """The bot a request is about (for fault matching and the request log)."""
    for candidate in (call.path_params.get("bot_id"), call.param("bot_id"), call.json.get("bot_id")):
        if isinstance(candidate, str) and candidate:
            return candidate
    chat_id = call.param("chat_id") or call.json.get("chat_id")
    conversation_id = call.param("conversation_id") or call.json.get("conversation_id")
    return sim.state.bot_id_for(
        chat_id if isinstance(chat_id, str) else None,
        conversation_id if isinstance(conversation_id, str) else None,
    )


def build_response(reply: Reply, logid: str, fired: FiredFaults) -> Response:
    if isinstance(reply, JsonReply):
        return json_response(reply.body, logid, reply.status)
    plan = StreamPlan.from_faults(fired.stream, fired.first_byte_ms, MESSAGES[CozeCode.INTERNAL])
    return SseResponse(reply.events, logid=logid, plan=plan, error_event=reply.error_event, on_close=reply.on_close)


def fault_response(fault: HttpErrorFault | RateLimitFault, logid: str) -> Response:
    msg = fault.msg or MESSAGES.get(fault.code, "error")
    if isinstance(fault, RateLimitFault):
        headers = {"Retry-After": str(fault.retry_after_s)} if fault.retry_after_s is not None else None
        return json_response(error_body(fault.code, msg), logid, fault.status, headers)
    if not fault.json_body:
        text = fault.msg or f"<html><body><h1>{fault.status} Server Error</h1></body></html>"
        media_type = fault.content_type or "text/html"
        return Response(text, status_code=fault.status, media_type=media_type, headers={LOGID_HEADER: logid})
    if fault.content_type:
        body = dump_json({**error_body(fault.code, msg), "detail": {"logid": logid}})
        return Response(body, status_code=fault.status, media_type=fault.content_type, headers={LOGID_HEADER: logid})
    return json_response(error_body(fault.code, msg), logid, fault.status)
