"""One bot turn of a chat: decide the reply, prepare its messages, and stream it as Coze's chat events.

Stream order (as Coze sends it): ``conversation.chat.created`` (first turn only) ->
``conversation.chat.in_progress`` -> per message: ``conversation.message.delta``* (answers only) then
``conversation.message.completed`` -> ``conversation.chat.completed`` | ``.failed`` | ``.requires_action``
-> ``done`` with data ``"[DONE]"``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from cozegate.coze.simulator import bots
from cozegate.coze.simulator.plugin_calls import PluginCallResult
from cozegate.coze.simulator.records import BotRecord, ChatRecord, MessageRecord
from cozegate.coze.simulator.sse import SseEvent, chat_event, dump_json
from cozegate.coze.simulator.state import VERBOSE_FINISH, SimState, object_string_text

FINAL_EVENTS = {
    "completed": "conversation.chat.completed",
    "failed": "conversation.chat.failed",
    "requires_action": "conversation.chat.requires_action",
}


def user_text_of(messages: list[dict[str, Any]]) -> str:
    """The query: the text of the last user message (``object_string`` content reduced to its text parts)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = str(message.get("content") or "")
            return object_string_text(content) if message.get("content_type") == "object_string" else content
    return ""


def decide_turn(
    state: SimState,
    chat: ChatRecord,
    bot: BotRecord,
    tool_output: str | None = None,
    plugin_call: PluginCallResult | None = None,
) -> tuple[bots.BotReply, list[MessageRecord]]:
    """The bot's reply to the chat's query and the messages that show it (not yet visible)."""
    given = bots.BotInput(
        user_text=chat.user_text,
        passages=state.passages_for(bot) if bot.config.kind == "knowledge" else (),
        tool_output=plugin_call.body if plugin_call is not None else tool_output,
        tool_call_id=f"call_{state.ids.next()}",
        plugin_status=plugin_call.status if plugin_call is not None else None,
    )
    reply = bots.reply(bot.config, given)
    conversation = state.conversation(chat.conversation_id)

    def message(type_: str, content: str) -> MessageRecord:
        return state.new_message(conversation, role="assistant", type=type_, content=content, chat=chat)

    outputs: list[MessageRecord] = []
    if plugin_call is not None:
        plugin_function = {"name": plugin_call.name, "arguments": plugin_call.arguments}
        outputs.append(message("function_call", dump_json(plugin_function)))
        outputs.append(message("tool_response", plugin_call.body))
    if tool_output is not None:
        outputs.append(message("tool_response", tool_output))
    if reply.kind == "tool_call" and reply.tool_call is not None:
        call = reply.tool_call
        function_call = {"name": call.name, "arguments": _json_or_text(call.arguments), "plugin_type": 2}
        outputs.append(message("function_call", dump_json(function_call)))
    elif reply.kind == "answer":
        outputs.append(message("answer", reply.answer))
        outputs.append(message("verbose", VERBOSE_FINISH))
        outputs.extend(message("follow_up", question) for question in reply.follow_ups)
    return reply, outputs


def _json_or_text(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


async def chat_events(
    state: SimState, chat: ChatRecord, outputs: list[MessageRecord], bot: BotRecord, *, first_turn: bool
) -> AsyncIterator[SseEvent]:
    """The event stream of the chat's pending turn; finalizes the chat before its final event."""
    delta_s = bot.config.delta_ms / 1000
    if first_turn:
        yield chat_event("conversation.chat.created", chat.to_coze(status="created"))
    yield chat_event("conversation.chat.in_progress", chat.to_coze(status="in_progress"))
    for message in outputs:
        if message.type == "answer":
            for piece in bots.chunks(message.content, bot.config.words_per_delta):
                yield chat_event("conversation.message.delta", message.to_coze(content=piece))
                if delta_s:
                    await asyncio.sleep(delta_s)
        yield chat_event("conversation.message.completed", message.to_coze())
    state.finalize(chat)
    final = FINAL_EVENTS.get(chat.status)
    if final is not None:
        yield chat_event(final, chat.to_coze())
    yield chat_event("done", "[DONE]")


def chat_error_event(_index: int, code: int, msg: str) -> SseEvent:
    return chat_event("error", {"code": code, "msg": msg})
