"""``POST /v1/chat``: enterprise front-ends talk to their tenant's bot through cozegate.

JWT (or admin token) → tenant (the token's, or ``tenant`` for admins) → rate limits (per tenant and
per user, 429 with ``Retry-After``) → bot (the user's rollout variant) → Coze streaming chat, relayed
as server-sent events as soon as Coze sends each piece: ``event: chat`` (ids), ``event: delta``
(``{"content"}``), then ``event: done`` (``{"answer", "chat_id", "conversation_id"}``) or
``event: error``. With ``"stream": false`` the whole answer comes back as one JSON object. A client
that disconnects mid-stream closes the Coze stream and the chat is cancelled at Coze.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from cozepy import ChatEventType, Message, MessageType
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cozegate.conversations.store import ConversationStore
from cozegate.conversations.turns import bot_for, coze_conversation_for, outbound_text
from cozegate.coze import CozeCallError, CozeClient, ToolRunner, run_chat
from cozegate.coze.clients import CozeClients
from cozegate.gateway.admin_auth import Authenticator, request_id_of, tenant_allowed, user_endpoint
from cozegate.gateway.errors import error_response
from cozegate.gateway.jwt_auth import Principal
from cozegate.gateway.rate_limits import ChatRateLimiter, RateLimitedError
from cozegate.health.routing import HealthRouting
from cozegate.observability.log_context import bind_log_fields
from cozegate.rollout import Exposures
from cozegate.tenants import TenantRegistry

log = logging.getLogger(__name__)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=20_000)
    conversation_id: str | None = Field(None, min_length=1, max_length=255, description="Continue this conversation")
    stream: bool = True
    tenant: str | None = Field(None, description="Admins only: the tenant to talk as")


_ENDS_BADLY = (ChatEventType.CONVERSATION_CHAT_FAILED, ChatEventType.CONVERSATION_CHAT_REQUIRES_ACTION)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def chat_routes(
    conversations: ConversationStore,
    clients: CozeClients,
    tenants: Callable[[], TenantRegistry],
    exposures: Exposures,
    limiter: ChatRateLimiter,
    auth: Authenticator,
    tools: ToolRunner | None = None,
    routing: HealthRouting | None = None,
) -> list[Route]:
    async def chat(request: Request, principal: Principal) -> Response:
        body = ChatRequest.model_validate_json(await request.body())
        tenant_name = body.tenant or principal.tenant
        if tenant_name is None:
            raise ValueError("say which tenant to talk as (`tenant`)")
        tenant_allowed(principal, tenant_name)
        tenant = tenants().bot(tenant_name)
        if tenant is None:
            raise LookupError(f"no tenant named {tenant_name!r}")
        try:
            coze = clients.for_account(tenant.coze_token, tenant.coze_base_url)
        except PermissionError as exc:
            return error_response(409, "tenant_misconfigured", str(exc), request_id_of(request))
        try:
            await limiter.check(tenant_name, principal.subject, tenant.chat_limits)
        except RateLimitedError as exc:
            headers = {"retry-after": str(exc.retry_after_seconds)}
            return error_response(429, "rate_limited", str(exc), request_id_of(request), headers=headers)
        bot_id, fallback = (routing or _NO_ROUTES).route(tenant_name, bot_for(tenant, principal.subject, exposures))
        bind_log_fields(tenant=tenant_name, bot=bot_id)  # every line of this request (each runs in its own task)
        if fallback is not None:  # the bot's circuit is open: its polite reply, Coze is not called
            return _fallback_answer(fallback, body.conversation_id, body.stream)
        text = outbound_text(body.message, tenant.mask_pii_to_coze)
        if body.stream and body.conversation_id is None:
            # a new conversation: Coze creates it with the chat (no extra round trip before the first byte);
            # its id becomes the conversation id the client continues with
            remember = _Remember(conversations, tenant_name, bot_id, principal.subject)
            events = _relay(coze, bot_id, principal.subject, None, None, text, remember)
            return StreamingResponse(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})
        external = body.conversation_id or f"proxy-{uuid.uuid4().hex}"
        mapped = await conversations.mapping(tenant_name, external) if body.conversation_id is not None else None
        if mapped is not None and mapped[1] != principal.subject and not principal.is_global_admin:
            raise LookupError(f"no conversation {external!r} of yours")  # another user's: not even its existence
        try:
            coze_conversation = (
                mapped[0]
                if mapped is not None
                else await coze_conversation_for(conversations, coze, tenant_name, external, bot_id, principal.subject)
            )
        except CozeCallError as exc:
            return error_response(502, "coze_unavailable", str(exc), request_id_of(request))
        if not body.stream:
            try:
                answer = await run_chat(
                    coze,
                    bot_id=bot_id,
                    user_id=principal.subject,
                    conversation_id=coze_conversation,
                    text=text,
                    tools=tools,
                )
            except CozeCallError as exc:
                return error_response(502, "coze_failed", str(exc), request_id_of(request))
            return JSONResponse({"conversation_id": external, "chat_id": answer.chat_id, "answer": answer.text})
        events = _relay(coze, bot_id, principal.subject, coze_conversation, external, text, None)
        return StreamingResponse(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})

    return [Route("/v1/chat", user_endpoint(chat, auth), methods=["POST"])]


_NO_ROUTES = HealthRouting()


def _fallback_answer(text: str, conversation_id: str | None, stream: bool) -> Response:
    answer = {"answer": text, "chat_id": None, "conversation_id": conversation_id, "fallback": True}
    if not stream:
        return JSONResponse(answer)

    async def events() -> AsyncIterator[bytes]:
        yield _sse("delta", {"content": text})
        yield _sse("done", answer)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


class _Remember:
    """Store the mapping of a conversation Coze created during the chat, off the relay's path."""

    def __init__(self, conversations: ConversationStore, tenant: str, bot_id: str, user_id: str) -> None:
        self._conversations, self._tenant, self._bot_id, self._user = conversations, tenant, bot_id, user_id
        self.task: asyncio.Task[str] | None = None

    def start(self, coze_conversation: str) -> None:
        remember = self._conversations.remember_conversation
        stored = remember(self._tenant, coze_conversation, coze_conversation, self._bot_id, self._user)
        self.task = asyncio.create_task(stored)


async def _relay(
    coze: CozeClient,
    bot_id: str,
    user_id: str,
    coze_conversation: str | None,
    external: str | None,
    text: str,
    remember: _Remember | None,
) -> AsyncIterator[bytes]:
    chat_id: str | None = None
    finished = disconnected = False
    pieces: list[str] = []
    try:
        async for event in coze.chat_stream(
            bot_id=bot_id,
            user_id=user_id,
            conversation_id=coze_conversation,
            messages=[Message.build_user_question_text(text)],
        ):
            if event.event == ChatEventType.CONVERSATION_CHAT_CREATED and event.chat is not None:
                chat_id = event.chat.id
                if coze_conversation is None:
                    coze_conversation = external = event.chat.conversation_id
                    if remember is not None:
                        remember.start(coze_conversation)
                yield _sse("chat", {"chat_id": chat_id, "conversation_id": external})
            elif event.event == ChatEventType.CONVERSATION_MESSAGE_DELTA and event.message is not None:
                if event.message.type == MessageType.ANSWER:
                    pieces.append(event.message.content)
                    yield _sse("delta", {"content": event.message.content})
            elif event.event == ChatEventType.CONVERSATION_CHAT_COMPLETED:
                finished = True
                yield _sse("done", {"answer": "".join(pieces), "chat_id": chat_id, "conversation_id": external})
            elif event.event in _ENDS_BADLY:
                finished = True
                asks_for_tool = event.event == ChatEventType.CONVERSATION_CHAT_REQUIRES_ACTION
                reason = "the bot asked for a client tool; use stream=false" if asks_for_tool else "the chat failed"
                yield _sse("error", {"code": "chat_failed", "message": reason, "chat_id": chat_id})
        if not finished:  # Coze closed the stream without saying how the chat ended
            finished = True
            message = "the answer stream ended before the chat completed; ask again"
            yield _sse("error", {"code": "stream_incomplete", "message": message, "chat_id": chat_id})
    except CozeCallError as exc:
        finished = True
        yield _sse("error", {"code": "coze_failed", "message": str(exc), "chat_id": chat_id})
    except (asyncio.CancelledError, GeneratorExit):
        disconnected = True  # the client went away mid-stream
        raise
    finally:
        if disconnected and not finished and chat_id is not None and coze_conversation is not None:
            asyncio.get_running_loop().create_task(_cancel(coze, coze_conversation, chat_id))
        if remember is not None and remember.task is not None:
            with contextlib.suppress(BaseException):  # a cancelled relay leaves the (shielded) write running
                await asyncio.shield(remember.task)  # stored before the response ends: the next chat finds it
            if remember.task.done() and not remember.task.cancelled() and remember.task.exception() is not None:
                log.warning("the conversation mapping was not stored: %s", remember.task.exception())


async def _cancel(coze: CozeClient, conversation_id: str, chat_id: str) -> None:
    try:
        await coze.chat_cancel(conversation_id=conversation_id, chat_id=chat_id)
        log.info("chat cancelled at Coze after the client disconnected", extra={"coze_chat_id": chat_id})
    except Exception as exc:
        log.warning("could not cancel chat %s at Coze: %s", chat_id, exc.__class__.__name__)
