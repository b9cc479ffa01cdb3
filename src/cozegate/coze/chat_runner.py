"""One chat turn, start to finish: stream, run requested tools, resume after a broken stream.

``run_chat`` returns the bot's answer text. Tool calls (``requires_action``) run against the given
``ToolRunner`` and their outputs are submitted until the chat ends. If the stream breaks after Coze
announced the chat, the chat is not started again (that would post the user's message twice):
it is polled to its end and its messages are read instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cozepy import Chat, ChatEvent, ChatEventType, ChatStatus, Message, MessageType, ToolOutput

from cozegate.coze.client import CozeClient
from cozegate.coze.errors import CozeCallError

ToolRunner = Callable[[str, dict[str, Any]], Awaitable[str]]

log = logging.getLogger(__name__)

_RUNNING = {ChatStatus.CREATED, ChatStatus.IN_PROGRESS}


class ChatFailedError(Exception):
    """Coze ended the chat as failed (or canceled); ``code`` is its ``last_error`` code."""

    def __init__(self, chat_id: str, code: int | None, message: str) -> None:
        super().__init__(f"chat {chat_id} failed: {message} (code {code})")
        self.chat_id = chat_id
        self.code = code


@dataclass
class ChatAnswer:
    conversation_id: str
    chat_id: str
    text: str
    tool_calls: int = 0
    usage: dict[str, int] = field(default_factory=dict)


@dataclass
class _Turn:
    conversation_id: str
    chat: Chat | None = None
    answers: list[str] = field(default_factory=list)

    def feed(self, event: ChatEvent) -> None:
        if event.chat is not None:
            self.chat = event.chat
        if (
            event.event == ChatEventType.CONVERSATION_MESSAGE_COMPLETED
            and event.message is not None
            and event.message.type == MessageType.ANSWER
        ):
            self.answers.append(event.message.content)


async def run_chat(
    client: CozeClient,
    *,
    bot_id: str,
    user_id: str,
    conversation_id: str,
    text: str,
    tools: ToolRunner | None = None,
    max_tool_rounds: int = 5,
    poll_interval: float = 0.5,
    poll_timeout: float = 120.0,
) -> ChatAnswer:
    turn = _Turn(conversation_id)
    events: AsyncIterator[ChatEvent] = client.chat_stream(
        bot_id=bot_id,
        user_id=user_id,
        conversation_id=conversation_id,
        messages=[Message.build_user_question_text(text)],
    )
    tool_calls = 0
    for _ in range(max_tool_rounds + 1):
        await _consume(client, events, turn, poll_interval, poll_timeout)
        chat = turn.chat
        if chat is None:
            raise CozeCallError("chat.stream", "the stream ended before Coze announced the chat", retryable=True)
        if chat.status == ChatStatus.REQUIRES_ACTION:
            outputs = await _run_tools(chat, tools)
            tool_calls += len(outputs)
            events = client.submit_tool_outputs_stream(
                conversation_id=conversation_id, chat_id=chat.id, outputs=outputs
            )
            continue
        if chat.status != ChatStatus.COMPLETED:
            error = chat.last_error
            raise ChatFailedError(chat.id, error.code if error else None, error.msg if error else str(chat.status))
        usage = chat.usage.model_dump() if chat.usage else {}
        return ChatAnswer(conversation_id, chat.id, "\n\n".join(turn.answers), tool_calls, usage)
    raise ChatFailedError(turn.chat.id if turn.chat else "?", None, f"more than {max_tool_rounds} tool rounds")


async def _consume(
    client: CozeClient, events: AsyncIterator[ChatEvent], turn: _Turn, poll_interval: float, poll_timeout: float
) -> None:
    try:
        async for event in events:
            turn.feed(event)
    except CozeCallError:
        if turn.chat is None:
            raise
        log.info("chat stream broke; polling chat %s to its end", turn.chat.id)
        await _resume(client, turn, poll_interval, poll_timeout)
        return
    if turn.chat is not None and turn.chat.status in _RUNNING:
        # the stream ended without a terminal event: the chat runs on at Coze
        await _resume(client, turn, poll_interval, poll_timeout)


async def _resume(client: CozeClient, turn: _Turn, poll_interval: float, poll_timeout: float) -> None:
    assert turn.chat is not None
    chat_id = turn.chat.id
    async with asyncio.timeout(poll_timeout):
        chat = await client.chat_retrieve(conversation_id=turn.conversation_id, chat_id=chat_id)
        while chat.status in _RUNNING:
            await client.sleep(poll_interval)
            chat = await client.chat_retrieve(conversation_id=turn.conversation_id, chat_id=chat_id)
    turn.chat = chat
    if chat.status == ChatStatus.COMPLETED:
        messages = await client.chat_messages(conversation_id=turn.conversation_id, chat_id=chat_id)
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
