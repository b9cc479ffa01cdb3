"""``POST /v1/chat``: enterprise front-ends talk to their tenant's bot through cozegate.

JWT (or admin token) → tenant (the token's, or ``tenant`` for admins) → rate limits (per tenant and
per user, 429 with ``Retry-After``) → the tenant's bot (``BotConversations``: rollout variant, health
route, conversation, masking, knowledge), relayed as server-sent events as soon as Coze sends each
piece: ``event: chat`` (ids), ``event: delta`` (``{"content"}``), then ``event: done`` (``{"answer",
"chat_id", "conversation_id"}``) or ``event: error``. With ``"stream": false`` the whole answer comes
back as one JSON object. A client that disconnects mid-stream closes the Coze stream and the chat is
cancelled at Coze.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cozegate.conversations.bot_conversation import (
    Answer,
    BotConversations,
    Question,
    Started,
    TenantLine,
    TenantMisconfiguredError,
)
from cozegate.coze import AnswerDelta, ChatFailedError, CozeCallError, CozeClient, StreamIncompleteError
from cozegate.gateway.admin_auth import Authenticator, tenant_allowed, user_endpoint
from cozegate.gateway.jwt_auth import Principal
from cozegate.http.errors import error_response
from cozegate.http.request_context import request_id_of
from cozegate.observability.log_context import bind_log_fields
from cozegate.rate_limits import ChatRateLimiter, RateLimitedError

log = logging.getLogger(__name__)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=20_000)
    conversation_id: str | None = Field(None, min_length=1, max_length=255, description="Continue this conversation")
    stream: bool = True
    tenant: str | None = Field(None, description="Admins only: the tenant to talk as")


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _done(answer: Answer) -> dict[str, Any]:
    done: dict[str, Any] = {"answer": answer.text, "chat_id": answer.chat_id, "conversation_id": answer.conversation}
    if answer.fallback:
        done["fallback"] = True
    return done


def chat_routes(talk: BotConversations, limiter: ChatRateLimiter, auth: Authenticator) -> list[Route]:
    async def chat(request: Request, principal: Principal) -> Response:
        body = ChatRequest.model_validate_json(await request.body())
        tenant_name = body.tenant or principal.tenant
        if tenant_name is None:
            raise ValueError("say which tenant to talk as (`tenant`)")
        tenant_allowed(principal, tenant_name)
        try:
            line = talk.line(tenant_name)
        except TenantMisconfiguredError as exc:
            return error_response(409, exc.code, str(exc), request_id_of(request))
        try:
            await limiter.check(tenant_name, principal.subject, line.tenant.chat_limits)
        except RateLimitedError as exc:
            headers = {"retry-after": str(exc.retry_after_seconds)}
            return error_response(429, "rate_limited", str(exc), request_id_of(request), headers=headers)
        bind_log_fields(tenant=tenant_name)  # every line of this request (each runs in its own task)
        question = Question(
            user_id=principal.subject,
            text=body.message,
            conversation=body.conversation_id,
            owner=principal.subject,
            private=not principal.is_global_admin,
        )
        if body.stream:
            events = _relay(talk, line, question)
            try:  # the route, the conversation and the chat's start are settled before the answer's status
                first = await anext(events)
            except CozeCallError as exc:
                return error_response(502, _coze_code(exc), str(exc), request_id_of(request))
            return StreamingResponse(
                _prepend(first, events), media_type="text/event-stream", headers={"cache-control": "no-cache"}
            )
        try:
            answer = await talk.ask(line, question)
        except CozeCallError as exc:
            return error_response(502, _coze_code(exc), str(exc), request_id_of(request))
        return JSONResponse(_done(answer))

    return [Route("/v1/chat", user_endpoint(chat, auth), methods=["POST"])]


def _coze_code(exc: CozeCallError) -> str:
    return "coze_unavailable" if exc.endpoint == "conversations.create" else "coze_failed"


async def _prepend(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    async with contextlib.aclosing(rest):
        yield first
        async for chunk in rest:
            yield chunk


async def _relay(talk: BotConversations, line: TenantLine, question: Question) -> AsyncGenerator[bytes, None]:
    """The chat as server-sent events. Errors before the chat starts are raised (the endpoint answers
    them); after it, they end the stream with an ``error`` event."""
    chat_id: str | None = None
    coze_conversation: str | None = None
    finished = False
    started = False
    try:
        async with contextlib.aclosing(talk.stream(line, question, resume=False)) as steps:
            try:
                async for step in steps:
                    if isinstance(step, Started):
                        chat_id, coze_conversation, started = step.chat_id, step.coze_conversation, True
                        yield _sse("chat", {"chat_id": chat_id, "conversation_id": step.conversation})
                    elif isinstance(step, AnswerDelta):
                        started = True
                        yield _sse("delta", {"content": step.text})
                    else:
                        finished = True
                        yield _sse("done", _done(step))
            except CozeCallError as exc:
                if not started and exc.endpoint == "conversations.create":
                    raise
                finished = True
                yield _sse("error", {"code": "coze_failed", "message": str(exc), "chat_id": chat_id})
            except StreamIncompleteError:  # Coze closed the stream without saying how the chat ended
                finished = True
                message = "the answer stream ended before the chat completed; ask again"
                yield _sse("error", {"code": "stream_incomplete", "message": message, "chat_id": chat_id})
            except ChatFailedError:
                finished = True
                yield _sse("error", {"code": "chat_failed", "message": "the chat failed", "chat_id": chat_id})
    finally:
        if not finished and chat_id is not None and coze_conversation is not None:  # the client went away
            asyncio.get_running_loop().create_task(_cancel(line.client, coze_conversation, chat_id))


async def _cancel(coze: CozeClient, conversation_id: str, chat_id: str) -> None:
    try:
        await coze.chat_cancel(conversation_id=conversation_id, chat_id=chat_id)
        log.info("chat cancelled at Coze after the client disconnected", extra={"coze_chat_id": chat_id})
    except Exception as exc:
        log.warning("could not cancel chat %s at Coze: %s", chat_id, exc.__class__.__name__)
