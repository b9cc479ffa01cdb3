"""One chat turn, start to finish: stream, run requested tools, resume after a broken stream.

``stream_chat`` yields ``ChatStarted`` once Coze announces the chat, an ``AnswerDelta`` per piece of
the answer as it arrives, and the whole ``ChatAnswer`` last; ``run_chat`` is the same turn without the
pieces. Tool calls (``requires_action``) run against the given ``ToolRunner`` and their outputs are
submitted until the chat ends. If the stream breaks after Coze announced the chat, the chat is not
started again (that would post the user's message twice): it is polled to its end and its messages
are read instead. A chat already started (``existing``) is followed the same way; one still running at
its deadline is cancelled at Coze (``ChatTimedOutError``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cozepy import Chat, ChatEvent, ChatEventType, ChatStatus, Message, MessageType, ToolOutput

from cozegate.coze.client import CozeClient, last_logid
from cozegate.coze.errors import CozeCallError
from cozegate.settings.model import DEFAULT_CHAT_TIMEOUT

ToolRunner = Callable[[str, dict[str, Any]], Awaitable[str]]

log = logging.getLogger(__name__)

_RUNNING = {ChatStatus.CREATED, ChatStatus.IN_PROGRESS}
ANSWER_SEPARATOR = "\n\n"  # between the answer messages of one chat
DEFAULT_DEADLINE = DEFAULT_CHAT_TIMEOUT  # seconds a chat may take (stream, tools, polling) before it is cancelled
CANCEL_SECONDS = 5.0


class ChatFailedError(Exception):
    """Coze ended the chat as failed (or canceled); ``code`` is its ``last_error`` code, ``logid`` the log id
    of the answer that said so."""

    def __init__(self, chat_id: str, code: int | None, message: str, logid: str | None = None) -> None:
        where = f", logid {logid}" if logid else ""
        super().__init__(f"chat {chat_id} failed: {message} (code {code}{where})")
        self.chat_id = chat_id
        self.code = code
        self.logid = logid
        self.reason = message


class ChatTimedOutError(ChatFailedError):
    """The chat was still running at its deadline; it was cancelled at Coze."""

    def __init__(self, chat_id: str, seconds: float, logid: str | None = None) -> None:
        super().__init__(chat_id, None, f"not finished within {seconds:g} s, cancelled at Coze", logid)


@dataclass(frozen=True, slots=True)
class ChatStarted:
    chat_id: str
    conversation_id: str


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    text: str


@dataclass
class ChatAnswer:
    conversation_id: str
    chat_id: str
    text: str
    tool_calls: int = 0
    usage: dict[str, int] = field(default_factory=dict)


ChatProgress = ChatStarted | AnswerDelta | ChatAnswer


@dataclass
class _Turn:
    conversation_id: str | None
    chat: Chat | None = None
    answers: list[str] = field(default_factory=list)
    streamed: list[str] = field(default_factory=list)  # every delta yielded so far
    delta_message: str | None = None  # the answer message the last delta belonged to

    def feed(self, event: ChatEvent) -> AnswerDelta | None:
        if event.chat is not None:
            self.chat = event.chat
            self.conversation_id = event.chat.conversation_id or self.conversation_id
        message = event.message
        if message is None or message.type != MessageType.ANSWER:
            return None
        if event.event == ChatEventType.CONVERSATION_MESSAGE_COMPLETED:
            self.answers.append(message.content)
        elif event.event == ChatEventType.CONVERSATION_MESSAGE_DELTA and message.content:
            piece = message.content
            if self.streamed and message.id != self.delta_message:
                piece = ANSWER_SEPARATOR + piece  # a new answer message: the pieces add up to the answer
            self.delta_message = message.id
            self.streamed.append(piece)
            return AnswerDelta(piece)
        return None


async def run_chat(
    client: CozeClient,
    *,
    bot_id: str,
    user_id: str,
    conversation_id: str | None,
    text: str,
    tools: ToolRunner | None = None,
    deadline_seconds: float = DEFAULT_DEADLINE,
) -> ChatAnswer:
    """The chat's answer (``conversation_id`` None: Coze makes a conversation for it)."""
    chat = stream_chat(
        client,
        bot_id=bot_id,
        user_id=user_id,
        conversation_id=conversation_id,
        text=text,
        tools=tools,
        deadline_seconds=deadline_seconds,
    )
    async with contextlib.aclosing(chat) as steps:
        async for progress in steps:
            if isinstance(progress, ChatAnswer):
                return progress
    raise AssertionError("stream_chat ends with the answer or raises")  # pragma: no cover


async def stream_chat(
    client: CozeClient,
    *,
    bot_id: str,
    user_id: str,
    conversation_id: str | None,
    text: str,
    tools: ToolRunner | None = None,
    meta_data: dict[str, str] | None = None,
    existing: str | None = None,
    deadline_seconds: float = DEFAULT_DEADLINE,
    deadline_at: float | None = None,
    max_tool_rounds: int = 5,
    poll_interval: float = 0.5,
) -> AsyncGenerator[ChatProgress, None]:
    """The chat turn. ``meta_data`` tags the user's message (so a chat can be found again by it);
    ``existing`` names a chat already started in ``conversation_id``: it is followed to its end instead
    of asking again. Past ``deadline_seconds`` from now (or the event loop's ``deadline_at``, if sooner)
    a running chat is cancelled at Coze (``ChatTimedOutError``)."""
    deadline = asyncio.get_running_loop().time() + deadline_seconds
    if deadline_at is not None and deadline_at < deadline:
        deadline, deadline_seconds = deadline_at, max(0.0, deadline_at - asyncio.get_running_loop().time())
    turn = _Turn(conversation_id)
    events: AsyncIterator[ChatEvent]
    if existing is None:
        events = client.chat_stream(
            bot_id=bot_id,
            user_id=user_id,
            conversation_id=conversation_id,
            messages=[Message.build_user_question_text(text, meta_data=meta_data)],
        )
    else:
        if conversation_id is None:
            raise ValueError("an existing chat is resumed in its conversation")
        await _follow(client, turn, existing, poll_interval, deadline, deadline_seconds)
        events = _no_events()
    tool_calls = 0
    announced = False
    for _ in range(max_tool_rounds + 1):
        broken: CozeCallError | None = None
        try:
            iterator = aiter(events)
            while True:
                try:
                    async with _before(deadline, turn, client, deadline_seconds):
                        event = await anext(iterator)
                except StopAsyncIteration:
                    break
                delta = turn.feed(event)
                if not announced and turn.chat is not None and turn.conversation_id is not None:
                    announced = True
                    yield ChatStarted(turn.chat.id, turn.conversation_id)
                if delta is not None:
                    yield delta
        except CozeCallError as exc:
            if turn.chat is None:
                raise
            broken = exc
        finally:
            closing = getattr(events, "aclose", None)
            if closing is not None:
                await closing()
        chat = turn.chat
        if chat is None:
            raise CozeCallError(
                "chat.stream", "the stream ended before Coze announced the chat", retryable=True, sent=True
            )
        if not announced and turn.conversation_id is not None:
            announced = True
            yield ChatStarted(chat.id, turn.conversation_id)
        if broken is not None or chat.status in _RUNNING:  # the chat runs on at Coze
            log.info("following chat %s to its end", chat.id)
            await _follow(client, turn, chat.id, poll_interval, deadline, deadline_seconds)
            chat = turn.chat
            assert chat is not None
        if chat.status == ChatStatus.REQUIRES_ACTION:
            async with _before(deadline, turn, client, deadline_seconds):
                outputs = await _run_tools(chat, tools)
            tool_calls += len(outputs)
            assert turn.conversation_id is not None
            events = client.submit_tool_outputs_stream(
                conversation_id=turn.conversation_id, chat_id=chat.id, outputs=outputs
            )
            continue
        if chat.status != ChatStatus.COMPLETED:
            error = chat.last_error
            message = error.msg if error else str(chat.status)
            raise ChatFailedError(chat.id, error.code if error else None, message, last_logid.get())
        answer = ANSWER_SEPARATOR.join(turn.answers)
        streamed = "".join(turn.streamed)
        if len(answer) > len(streamed) and answer.startswith(streamed):
            yield AnswerDelta(answer[len(streamed) :])  # the rest of an answer read after a broken stream
        usage = chat.usage.model_dump() if chat.usage else {}
        assert turn.conversation_id is not None
        yield ChatAnswer(turn.conversation_id, chat.id, answer, tool_calls, usage)
        return
    raise ChatFailedError(turn.chat.id if turn.chat else "?", None, f"more than {max_tool_rounds} tool rounds")


async def _no_events() -> AsyncIterator[ChatEvent]:
    return
    yield  # pragma: no cover - an empty async generator


@contextlib.asynccontextmanager
async def _before(deadline: float, turn: _Turn, client: CozeClient, seconds: float) -> AsyncIterator[None]:
    """Run one step of the chat by its deadline; at the deadline a started chat is cancelled at Coze
    (``ChatTimedOutError``), and a chat not yet announced may exist (``CozeCallError.sent``)."""
    try:
        async with asyncio.timeout_at(deadline):
            yield
    except TimeoutError:
        if turn.chat is None or turn.conversation_id is None:
            raise CozeCallError(
                "chat.stream", f"no chat announced within {seconds:g} s", retryable=True, sent=True
            ) from None
        await cancel_chat(client, turn.conversation_id, turn.chat.id)
        raise ChatTimedOutError(turn.chat.id, seconds, last_logid.get()) from None


async def cancel_chat(client: CozeClient, conversation_id: str, chat_id: str) -> None:
    """Cancel a chat at Coze (best effort, within ``CANCEL_SECONDS``; a failure is logged)."""
    try:
        async with asyncio.timeout(CANCEL_SECONDS):
            await client.chat_cancel(conversation_id=conversation_id, chat_id=chat_id)
    except Exception as exc:
        log.warning("could not cancel chat %s at Coze: %s", chat_id, exc.__class__.__name__)
        return
    log.info("chat cancelled at Coze", extra={"coze_chat_id": chat_id})


async def _follow(
    client: CozeClient, turn: _Turn, chat_id: str, poll_interval: float, deadline: float, seconds: float
) -> None:
    """Poll the chat to its end (by the deadline), then read its answer."""
    conversation_id = turn.conversation_id
    assert conversation_id is not None
    async with _before(deadline, turn, client, seconds):
        chat = await client.chat_retrieve(conversation_id=conversation_id, chat_id=chat_id)
        turn.chat = chat
        while chat.status in _RUNNING:
            await client.sleep(poll_interval)
            chat = turn.chat = await client.chat_retrieve(conversation_id=conversation_id, chat_id=chat_id)
        if chat.status == ChatStatus.COMPLETED:
            messages = await client.chat_messages(conversation_id=conversation_id, chat_id=chat_id)
            turn.answers = [m.content for m in messages if m.type == MessageType.ANSWER]


async def _run_tools(chat: Chat, tools: ToolRunner | None) -> list[ToolOutput]:
    action = chat.required_action
    calls = action.submit_tool_outputs.tool_calls if action and action.submit_tool_outputs else []
    outputs = []
    for call in calls:
        if call.function is None:
            continue
        name = call.function.name
        if tools is None:
            output = json.dumps({"error": f"no local tool named {name!r} is registered"})
        else:
            try:
                arguments = json.loads(call.function.arguments or "{}")
                output = await tools(name, arguments if isinstance(arguments, dict) else {"value": arguments})
            except Exception as exc:  # the bot gets a readable error instead of a stuck chat
                log.warning("tool %s failed: %s", name, exc.__class__.__name__)
                output = json.dumps({"error": f"tool {name} failed: {exc.__class__.__name__}"})
        outputs.append(ToolOutput(tool_call_id=call.id, output=output))
    return outputs
