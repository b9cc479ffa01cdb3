"""``POST /v1/chat``: enterprise front-ends talk to their tenant's bot through cozegate.

JWT (or admin token) → tenant (the token's, or ``tenant`` for admins) → rate limits (per tenant and
per user, 429 with ``Retry-After``) → the tenant's bot (``BotConversations``: rollout variant, health
route, conversation, masking, knowledge), relayed as server-sent events as soon as Coze sends each
piece: ``event: chat`` (ids), ``event: delta`` (``{"content"}``), then ``event: done`` (``{"answer",
"chat_id", "conversation_id"}``) or ``event: error``. With ``"stream": false`` the whole answer comes
back as one JSON object. A client that disconnects mid-stream closes the Coze stream and the chat is
cancelled at Coze. A failed chat answers 502 ``chat_failed`` (504 ``chat_timed_out`` past its deadline,
cancelled at Coze) with Coze's code and log id in ``details``. Every chat is written to its conversation's
transcript, and every request that reaches the bot (answered, failed, refused, abandoned) is audited
(``chat.proxy``); requests over their rate limit are counted in metrics only, so a flood cannot grow the
audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cozegate.compliance import AuditLog
from cozegate.conversations.bot_conversation import (
    Answer,
    BotConversations,
    BotNotLiveError,
    Question,
    Started,
    TenantLine,
    TenantMisconfiguredError,
)
from cozegate.conversations.store import FALLBACK_CHAT_ID, ConversationStore, Turn
from cozegate.coze import AnswerDelta, ChatFailedError, CozeCallError
from cozegate.coze.chat_runner import ChatTimedOutError, cancel_chat
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


def chat_routes(
    talk: BotConversations,
    limiter: ChatRateLimiter,
    auth: Authenticator,
    store: ConversationStore,
    audit: AuditLog,
) -> list[Route]:
    async def chat(request: Request, principal: Principal) -> Response:
        body = ChatRequest.model_validate_json(await request.body())
        tenant_name = body.tenant or principal.tenant
        if tenant_name is None:
            raise ValueError("say which tenant to talk as (`tenant`)")
        tenant_allowed(principal, tenant_name)
        rid = request_id_of(request)
        try:
            line = talk.line(tenant_name)
        except TenantMisconfiguredError as exc:
            return error_response(409, exc.code, str(exc), rid)
        try:
            await limiter.check(tenant_name, principal.subject, line.tenant.chat_limits)
        except RateLimitedError as exc:
            headers = {"retry-after": str(exc.retry_after_seconds)}
            return error_response(429, "rate_limited", str(exc), rid, headers=headers)
        bind_log_fields(tenant=tenant_name)  # every line of this request (each runs in its own task)
        question = Question(
            user_id=principal.subject,
            text=body.message,
            conversation=body.conversation_id,
            owner=principal.subject,
            private=not principal.is_global_admin,
            tag=f"{tenant_name}/chat:{rid}",
        )
        record = _Record(store, audit, tenant_name, principal, question, rid, body.stream)
        try:
            return await _answer(talk, line, question, record, body.stream, rid)
        except (LookupError, BotNotLiveError) as exc:  # (the guard answers a LookupError with its 404)
            await record.refused(exc)
            if isinstance(exc, BotNotLiveError):
                return error_response(503, "bot_not_live", str(exc), rid, headers={"retry-after": "5"})
            raise

    return [Route("/v1/chat", user_endpoint(chat, auth), methods=["POST"])]


class _Record:
    """What a chat leaves behind: its question and answer in the conversation's transcript (so the user's
    data can be exported and erased), and an audit record of every request (who, tenant, conversation,
    bot, chat, outcome; never the words)."""

    def __init__(
        self,
        store: ConversationStore,
        audit: AuditLog,
        tenant: str,
        principal: Principal,
        question: Question,
        request_id: str,
        stream: bool,
    ) -> None:
        self._store, self._audit, self._tenant = store, audit, tenant
        self._principal, self._question, self._rid, self._stream = principal, question, request_id, stream

    async def answered(self, answer: Answer) -> None:
        try:
            await self._transcript(answer)
        except Exception:  # the user has the answer; the log says the transcript lines are missing
            log.exception("the chat's transcript lines were not written")
        outcome = "fallback" if answer.fallback else "answered"
        await self._audited(outcome, answer.conversation, {"bot": answer.bot_id, "chat_id": answer.chat_id})

    async def _transcript(self, answer: Answer) -> None:
        if answer.conversation is not None:
            turn = Turn(
                tenant=self._tenant,
                source_event=f"chat:{self._rid}",
                conversation_id=answer.conversation,
                user_id=self._principal.subject,
                question=self._question.text,
                answer=answer.text,
                coze_chat_id=answer.chat_id or FALLBACK_CHAT_ID,
            )
            await self._store.record_exchange(turn)

    async def refused(self, exc: BaseException) -> None:
        await self._audited("refused", self._question.conversation, {"reason": exc.__class__.__name__})

    async def failed(self, code: str, exc: BaseException) -> None:
        details: dict[str, object] = {"code": code}
        if isinstance(exc, ChatFailedError):
            details |= _chat_details(exc)
        elif isinstance(exc, CozeCallError):
            details |= _coze_details(exc)
        await self._audited("failed", self._question.conversation, details)

    async def abandoned(self, chat_id: str | None) -> None:
        await self._audited("client_left", self._question.conversation, {"chat_id": chat_id})

    async def _audited(self, outcome: str, conversation: str | None, details: dict[str, object]) -> None:
        try:
            await self._audit.record(
                actor=self._principal.actor,
                action="chat.proxy",
                tenant=self._tenant,
                target=conversation,
                request_id=self._rid,
                details={"outcome": outcome, "stream": self._stream, **details},
            )
        except Exception:  # the user has the answer; the log says the record is missing
            log.exception("the chat's audit record was not written")


async def _answer(
    talk: BotConversations, line: TenantLine, question: Question, record: _Record, stream: bool, rid: str
) -> Response:
    if stream:
        events = _relay(talk, line, question, record)
        try:  # the route, the conversation and the chat's start are settled before the answer's status
            first = await anext(events)
        except CozeCallError as exc:
            await record.failed(_coze_code(exc), exc)
            return error_response(502, _coze_code(exc), str(exc), rid, details=_coze_details(exc))
        return StreamingResponse(
            _prepend(first, events), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )
    try:
        answer = await talk.ask(line, question, deadline=None)
    except ChatFailedError as exc:
        code, status = ("chat_timed_out", 504) if isinstance(exc, ChatTimedOutError) else ("chat_failed", 502)
        await record.failed(code, exc)
        return error_response(status, code, str(exc), rid, details=_chat_details(exc))
    except CozeCallError as exc:
        if exc.sent:  # the message may have reached Coze: a chat found by its tag is cancelled
            _leave_running(_cancel_unannounced(talk, line, question))
        await record.failed(_coze_code(exc), exc)
        return error_response(502, _coze_code(exc), str(exc), rid, details=_coze_details(exc))
    await record.answered(answer)
    return JSONResponse(_done(answer))


async def _cancel_unannounced(talk: BotConversations, line: TenantLine, question: Question) -> None:
    """The chat Coze may have started for a request whose answer broke off before its id: cancel it."""
    try:
        found = await talk.find_chat(line, question)
    except Exception as exc:
        log.warning("could not look for the chat of a broken request: %s", exc.__class__.__name__)
        return
    if found is not None and found.announced:
        await cancel_chat(line.client, found.coze_conversation, found.chat_id)


def _coze_code(exc: CozeCallError) -> str:
    return "coze_unavailable" if exc.endpoint == "conversations.create" else "coze_failed"


def _coze_details(exc: CozeCallError) -> dict[str, object]:
    return {"coze_code": exc.code, "coze_logid": exc.logid}


def _chat_details(exc: ChatFailedError) -> dict[str, object]:
    return {"chat_id": exc.chat_id, "coze_code": exc.code, "coze_logid": exc.logid}


async def _prepend(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    async with contextlib.aclosing(rest):
        yield first
        async for chunk in rest:
            yield chunk


async def _relay(
    talk: BotConversations, line: TenantLine, question: Question, record: _Record
) -> AsyncGenerator[bytes, None]:
    """The chat as server-sent events. Errors before the chat starts are raised (the endpoint answers
    them); after it, they end the stream with an ``error`` event. A stream that breaks after Coze
    announced the chat is followed to its end (the message is never asked twice)."""
    chat_id: str | None = None
    coze_conversation: str | None = None
    finished = False
    started = False
    try:
        async with contextlib.aclosing(talk.stream(line, question)) as steps:
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
                        recorded = asyncio.ensure_future(record.answered(step))  # kept if the client leaves
                        yield _sse("done", _done(step))
                        await asyncio.shield(recorded)
            except CozeCallError as exc:
                if not started and not exc.sent:  # Coze refused before any chat: the endpoint answers 502
                    raise
                finished = True
                if not started:  # the stream ended before Coze said whether a chat began
                    _leave_running(_cancel_unannounced(talk, line, question))
                    message = "the answer stream ended before Coze announced the chat"
                    yield _sse("error", {"code": "stream_incomplete", "message": message, "chat_id": None})
                    await record.failed("stream_incomplete", exc)
                else:
                    yield _sse("error", {"code": "coze_failed", "message": str(exc), "chat_id": chat_id,
                                         **_coze_details(exc)})  # fmt: skip
                    await record.failed("coze_failed", exc)
            except ChatFailedError as exc:
                finished = True
                code = "chat_timed_out" if isinstance(exc, ChatTimedOutError) else "chat_failed"
                yield _sse("error", {"code": code, "message": exc.reason, **_chat_details(exc)})
                await record.failed(code, exc)
    finally:
        if not finished and chat_id is not None and coze_conversation is not None:  # the client went away
            _leave_running(cancel_chat(line.client, coze_conversation, chat_id))
            _leave_running(record.abandoned(chat_id))


_LEFT_RUNNING: set[asyncio.Task[object]] = set()  # what a departed client's request still does, until done


def _leave_running(work: Coroutine[object, object, object]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _LEFT_RUNNING.add(task)
    task.add_done_callback(_LEFT_RUNNING.discard)
