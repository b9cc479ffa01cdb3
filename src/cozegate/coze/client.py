"""``CozeClient``: every call cozegate makes to Coze, on the official ``cozepy`` async SDK.

Each call gets a deadline, retries with full-jitter backoff on rate limits (4009/4020, waiting at
least a floor), server errors and connection errors, Prometheus metrics per endpoint, and Coze's log
id in our logs and in the ``CozeCallError`` it raises when it gives up. Base URL: coze.com, coze.cn
or the simulator.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from cozepy import (
    AsyncCoze,
    Bot,
    Chat,
    ChatEvent,
    Conversation,
    Message,
    ToolOutput,
)
from cozepy.auth import Auth

from cozegate.coze.errors import CozeCallError
from cozegate.coze.retry import CozeRetryPolicy, classify
from cozegate.http.outbound import outbound_client
from cozegate.observability import metrics
from cozegate.observability.tracing import record_failure, tracer, use_span

T = TypeVar("T")
log = logging.getLogger(__name__)

COZE_COM = "https://api.coze.com"
COZE_CN = "https://api.coze.cn"


LOGID_HEADER = "x-tt-logid"
# The log id of the last Coze answer this task received (set by the HTTP client's response hook), so that an
# error found in a stream's events (a failed chat) can name it too.
last_logid: ContextVar[str | None] = ContextVar("coze_last_logid", default=None)


def logid_of(result: object) -> str | None:
    response = getattr(result, "response", None)
    return getattr(response, "logid", None) or None


async def _note_logid(response: httpx.Response) -> None:
    logid = response.headers.get(LOGID_HEADER)
    if logid:
        last_logid.set(logid)


@dataclass
class CozeClient:
    auth: Auth
    base_url: str = COZE_COM
    timeout_seconds: float = 60.0
    stream_idle_seconds: float = 60.0
    retry: CozeRetryPolicy = field(default_factory=CozeRetryPolicy)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __post_init__(self) -> None:
        timeout = httpx.Timeout(self.timeout_seconds, connect=5.0)
        self.http = outbound_client(timeout, max_connections=200, event_hooks={"response": [_note_logid]})
        self.sdk = AsyncCoze(auth=self.auth, base_url=self.base_url, http_client=self.http)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- the one retry loop ---------------------------------------------------------------------
    async def call(self, endpoint: str, operation: Callable[[AsyncCoze], Awaitable[T]]) -> T:
        """Run ``operation(sdk)`` with deadline, retries, metrics and log-id capture, in one span."""
        with tracer().start_as_current_span(
            f"coze {endpoint}",
            attributes={"coze.endpoint": endpoint},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                result = await self._call(endpoint, operation)
            except Exception as exc:
                record_failure(exc, span)
                raise
            logid = logid_of(result)
            if logid:
                span.set_attribute("coze.logid", logid)
            return result

    async def _call(self, endpoint: str, operation: Callable[[AsyncCoze], Awaitable[T]]) -> T:
        attempt = 0
        last_logid.set(None)  # an error names this call's log id, or none
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    result = await operation(self.sdk)
            except Exception as exc:
                metrics.COZE_CALL_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
                await self._after_failure(endpoint, exc, attempt)
                continue
            metrics.COZE_CALL_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
            metrics.COZE_CALLS.labels(endpoint, "ok").inc()
            log.debug("coze %s ok", endpoint, extra={"coze_logid": logid_of(result)})
            return result

    async def _after_failure(self, endpoint: str, exc: BaseException, attempt: int) -> None:
        """Sleep before the next attempt, or raise ``CozeCallError`` when there is none."""
        failure = classify(exc)
        if not failure.retryable or attempt >= self.retry.max_attempts:
            metrics.COZE_CALLS.labels(endpoint, "error").inc()
            log.warning(
                "coze %s failed: %s",
                endpoint,
                failure.message,
                extra={"coze_code": failure.code, "coze_logid": failure.logid, "attempts": attempt},
            )
            raise CozeCallError(
                endpoint,
                failure.message,
                code=failure.code,
                logid=failure.logid,
                retryable=failure.retryable,
                attempts=attempt,
            ) from exc
        reason = "rate_limit" if failure.rate_limited else "server_error" if failure.code else "connection"
        metrics.COZE_RETRIES.labels(endpoint, reason).inc()
        delay = self.retry.delay(attempt, failure)
        log.info(
            "coze %s attempt %d failed (%s), retrying in %.2f s",
            endpoint,
            attempt,
            failure.message,
            delay,
            extra={"coze_code": failure.code, "coze_logid": failure.logid},
        )
        await self.sleep(delay)

    async def stream(
        self, endpoint: str, open_stream: Callable[[AsyncCoze], AsyncIterator[ChatEvent]], *, creates: bool = False
    ) -> AsyncIterator[ChatEvent]:
        """Yield a stream's events. Failures before the first event are retried like any call, except
        where the stream ``creates`` something (a chat) and the request may have reached Coze: that is
        raised at once (``CozeCallError.sent``), for the caller to find what was created; a failure after
        the first event is raised as ``CozeCallError`` (the caller decides how to resume).

        One span covers the stream from opening to its last event; it is current only while the stream
        is read (never across a ``yield``: the consumer's own spans are not its children).
        """
        span = tracer().start_span(f"coze {endpoint}", attributes={"coze.endpoint": endpoint})
        last_logid.set(None)  # an error names this stream's log id, or none
        try:
            attempt = 0
            while True:
                attempt += 1
                started = time.perf_counter()
                iterator = aiter(open_stream(self.sdk))
                try:
                    with use_span(span):
                        async with asyncio.timeout(self.timeout_seconds):
                            first = await anext(iterator)
                except StopAsyncIteration:
                    metrics.COZE_CALLS.labels(endpoint, "ok").inc()
                    return
                except Exception as exc:
                    metrics.COZE_CALL_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
                    if creates and classify(exc).sent:
                        raise self._ambiguous(endpoint, exc, attempt) from exc
                    await self._after_failure(endpoint, exc, attempt)
                    continue
                break
            yield first
            try:
                while True:
                    with use_span(span):
                        async with asyncio.timeout(self.stream_idle_seconds):
                            event = await anext(iterator)
                    yield event
            except StopAsyncIteration:
                metrics.COZE_CALL_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
                metrics.COZE_CALLS.labels(endpoint, "ok").inc()
            except Exception as exc:
                metrics.COZE_CALLS.labels(endpoint, "error").inc()
                failure = classify(exc)
                raise CozeCallError(
                    endpoint,
                    f"stream broke after it started: {failure.message}",
                    code=failure.code,
                    logid=failure.logid or last_logid.get(),
                    retryable=True,
                    attempts=attempt,
                    sent=True,
                ) from exc
        except (GeneratorExit, asyncio.CancelledError):  # the reader stopped early or left: not a failure
            raise
        except BaseException as exc:
            record_failure(exc, span)
            raise
        finally:
            span.end()

    @staticmethod
    def _ambiguous(endpoint: str, exc: BaseException, attempt: int) -> CozeCallError:
        metrics.COZE_CALLS.labels(endpoint, "error").inc()
        failure = classify(exc)
        log.warning("coze %s broke after the request went out: %s", endpoint, failure.message)
        return CozeCallError(
            endpoint,
            f"the answer broke off after the request went out ({failure.message}): it may have been created",
            code=failure.code,
            logid=failure.logid or last_logid.get(),
            retryable=True,
            attempts=attempt,
            sent=True,
        )

    # -- chat v3 --------------------------------------------------------------------------------
    def chat_stream(
        self,
        *,
        bot_id: str,
        user_id: str,
        conversation_id: str | None,
        messages: Sequence[Message],
        meta_data: dict[str, str] | None = None,
    ) -> AsyncIterator[ChatEvent]:
        return self.stream(
            "chat.stream",
            lambda sdk: sdk.chat.stream(
                bot_id=bot_id,
                user_id=user_id,
                conversation_id=conversation_id,
                additional_messages=list(messages),
                meta_data=meta_data,
            ),
            creates=True,
        )

    def submit_tool_outputs_stream(
        self, *, conversation_id: str, chat_id: str, outputs: Sequence[ToolOutput]
    ) -> AsyncIterator[ChatEvent]:
        return self.stream(
            "chat.submit_tool_outputs",
            lambda sdk: sdk.chat.submit_tool_outputs_stream(
                conversation_id=conversation_id, chat_id=chat_id, tool_outputs=list(outputs)
            ),
            creates=True,
        )

    async def chat_retrieve(self, *, conversation_id: str, chat_id: str) -> Chat:
        return await self.call(
            "chat.retrieve", lambda sdk: sdk.chat.retrieve(conversation_id=conversation_id, chat_id=chat_id)
        )

    async def chat_messages(self, *, conversation_id: str, chat_id: str) -> list[Message]:
        async def op(sdk: AsyncCoze) -> list[Message]:
            return list(await sdk.chat.messages.list(conversation_id=conversation_id, chat_id=chat_id))

        return await self.call("chat.messages.list", op)

    async def chat_cancel(self, *, conversation_id: str, chat_id: str) -> Chat:
        return await self.call(
            "chat.cancel", lambda sdk: sdk.chat.cancel(conversation_id=conversation_id, chat_id=chat_id)
        )

    # -- conversations and messages -------------------------------------------------------------
    async def create_conversation(self, *, bot_id: str, meta_data: dict[str, str] | None = None) -> Conversation:
        return await self.call(
            "conversations.create", lambda sdk: sdk.conversations.create(bot_id=bot_id, meta_data=meta_data)
        )

    async def delete_conversation(self, conversation_id: str) -> None:
        await self.call("conversations.delete", lambda sdk: sdk.conversations.delete(conversation_id=conversation_id))

    async def conversation_messages(self, conversation_id: str, *, limit: int = 50) -> list[Message]:
        async def op(sdk: AsyncCoze) -> list[Message]:
            page = await sdk.conversations.messages.list(conversation_id=conversation_id, limit=limit)
            return list(page.items)

        return await self.call("conversations.messages.list", op)

    # -- bots -----------------------------------------------------------------------------------
    async def retrieve_bot(self, bot_id: str) -> Bot:
        return await self.call("bots.retrieve", lambda sdk: sdk.bots.retrieve(bot_id=bot_id))

    async def publish_bot(self, bot_id: str, connector_ids: Sequence[str] = ("1024",)) -> Bot:
        return await self.call(
            "bots.publish", lambda sdk: sdk.bots.publish(bot_id=bot_id, connector_ids=list(connector_ids))
        )

    async def unpublish_bot(self, bot_id: str, connector_id: str, reason: str | None = None) -> None:
        await self.call(
            "bots.unpublish",
            lambda sdk: sdk.bots.unpublish(bot_id=bot_id, connector_id=connector_id, unpublish_reason=reason),
        )

    # -- knowledge and workflows ----------------------------------------------------------------
    async def list_documents(self, dataset_id: str, *, page_size: int = 100) -> tuple[list[Any], int | None]:
        """Every document of a knowledge base (one retried call per page), and the total Coze reported
        (fewer documents than that: the list changed while its pages were read)."""
        documents: list[Any] = []
        total: int | None = None
        page_num = 1
        while True:

            async def op(sdk: AsyncCoze, page_num: int = page_num) -> tuple[list[Any], bool, int | None]:
                page = await sdk.datasets.documents.list(dataset_id=dataset_id, page_num=page_num, page_size=page_size)
                return list(page.items), page.has_more, page.total

            items, has_more, total = await self.call("datasets.documents.list", op)
            documents.extend(items)
            if not has_more or not items:
                return documents, total
            page_num += 1

    async def document_progress(self, dataset_id: str, document_ids: Sequence[str]) -> list[Any]:
        """Processing state of documents, with the address of web pages (``url``)."""

        async def op(sdk: AsyncCoze) -> list[Any]:
            return list(await sdk.datasets.process(dataset_id=dataset_id, document_ids=list(document_ids)))

        return await self.call("datasets.process", op)
