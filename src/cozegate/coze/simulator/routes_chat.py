"""Chat v3: create (stream or not), retrieve, message list, cancel, submit_tool_outputs."""

from __future__ import annotations

from typing import Any

from cozegate.coze.simulator.bots import BotReply
from cozegate.coze.simulator.chat_flow import chat_error_event, chat_events, decide_turn, user_text_of
from cozegate.coze.simulator.context import Simulator
from cozegate.coze.simulator.dispatch import CozeRequest, Endpoint, JsonReply, Reply, StreamReply, body_stream_flag
from cozegate.coze.simulator.envelopes import CozeCode, CozeError, bad_params, envelope
from cozegate.coze.simulator.plugin_calls import call_plugin
from cozegate.coze.simulator.records import BotRecord, ChatRecord, MessageRecord
from cozegate.coze.simulator.state import SimState

MAX_ADDITIONAL_MESSAGES = 100


def check_meta_data(meta_data: Any) -> dict[str, str]:
    if meta_data is None:
        return {}
    if not isinstance(meta_data, dict):
        raise bad_params("meta_data must be an object")
    too_long = any(not 1 <= len(str(k)) <= 64 or not 1 <= len(str(v)) <= 512 for k, v in meta_data.items())
    if len(meta_data) > 16 or too_long:
        raise CozeError(CozeCode.META_DATA_LIMIT)
    return {str(k): str(v) for k, v in meta_data.items()}


def _messages(call: CozeRequest) -> list[dict[str, Any]]:
    messages = call.field("additional_messages", [])
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise bad_params("additional_messages must be a list of messages")
    if len(messages) > MAX_ADDITIONAL_MESSAGES:
        raise CozeError(CozeCode.ADDITIONAL_MESSAGES_LIMIT)
    for message in messages:
        if message.get("role") not in ("user", "assistant") or not isinstance(message.get("content"), str):
            raise bad_params("each message needs role user|assistant and a string content")
    return messages


async def create_chat(call: CozeRequest, sim: Simulator) -> Reply:
    state = sim.state
    bot_id = call.require_field("bot_id")
    call.require_field("user_id")
    stream = call.field("stream", False) is True
    save_history = call.field("auto_save_history", True) is not False
    if not stream and not save_history:
        raise CozeError(CozeCode.STREAM_NEEDS_HISTORY)
    meta_data = check_meta_data(call.json.get("meta_data"))
    messages = _messages(call)
    bot = state.bot(bot_id)
    if not bot.published:
        raise CozeError(CozeCode.BOT_NOT_PUBLISHED)
    conversation_id = call.param("conversation_id")
    if conversation_id is None:
        conversation = state.create_conversation(bot_id=bot.id)
    else:
        conversation = state.conversation(conversation_id)
        if state.running_chat(conversation.id) is not None:
            raise CozeError(CozeCode.CONVERSATION_BUSY)
    history = [m.to_coze() for m in conversation.messages if m.role == "user"]
    chat = ChatRecord(
        id=state.ids.next(),
        conversation_id=conversation.id,
        bot_id=bot.id,
        user_id=str(call.json["user_id"]),
        created_at=sim.clock.now(),
        section_id=conversation.section_id,
        user_text=user_text_of(history + messages),
        save_history=save_history,
        meta_data=meta_data,
    )
    state.chats[chat.id] = chat
    for given in messages:
        message = state.new_message(
            conversation,
            role=given["role"],
            type=given.get("type") or ("question" if given["role"] == "user" else "answer"),
            content=given["content"],
            content_type=given.get("content_type") or "text",
            meta_data=check_meta_data(given.get("meta_data")),
            chat=chat,
        )
        chat.inserted_ids.append(message.id)
        if save_history:
            state.append(conversation, message)
    plugin = bot.config.plugin if bot.config.kind == "plugin" else None
    plugin_call = None
    if plugin is not None:
        plugin_call = await call_plugin(
            plugin, chat.user_text, bot_id=bot.id, conversation_id=conversation.id, logid=sim.ids.logid()
        )
    reply, outputs = decide_turn(state, chat, bot, plugin_call=plugin_call)
    return _start_turn(state, chat, bot, reply, outputs, stream=stream, first_turn=True)


def _start_turn(
    state: SimState,
    chat: ChatRecord,
    bot: BotRecord,
    reply: BotReply,
    outputs: list[MessageRecord],
    *,
    stream: bool,
    first_turn: bool,
) -> Reply:
    """Start the bot's turn: the Chat at once (ready after ``think_ms``), or its event stream."""
    if not stream:
        state.start_turn(chat, reply, outputs, bot.config.think_ms / 1000)
        return JsonReply(envelope(chat.to_coze()))
    state.start_turn(chat, reply, outputs, None)
    return StreamReply(
        chat_events(state, chat, outputs, bot, first_turn=first_turn),
        chat_error_event,
        on_close=lambda: state.finalize(chat),
    )


def _chat_of(call: CozeRequest, state: SimState) -> ChatRecord:
    return state.chat(call.require_param("conversation_id"), call.require_param("chat_id"))


async def retrieve_chat(call: CozeRequest, sim: Simulator) -> Reply:
    return JsonReply(envelope(_chat_of(call, sim.state).to_coze()))


async def list_chat_messages(call: CozeRequest, sim: Simulator) -> Reply:
    chat = _chat_of(call, sim.state)
    return JsonReply(envelope([m.to_coze() for m in chat.messages]))


async def cancel_chat(call: CozeRequest, sim: Simulator) -> Reply:
    state = sim.state
    chat = state.chat(call.require_field("conversation_id"), call.require_field("chat_id"))
    state.cancel(chat)
    return JsonReply(envelope(chat.to_coze()))


async def submit_tool_outputs(call: CozeRequest, sim: Simulator) -> Reply:
    state = sim.state
    chat = _chat_of(call, state)
    outputs = call.field("tool_outputs", [])
    if chat.status != "requires_action" or chat.required_action is None:
        raise bad_params(f"the chat is {chat.status}, not waiting for tool outputs")
    if not isinstance(outputs, list) or not outputs or not all(isinstance(o, dict) for o in outputs):
        raise bad_params("tool_outputs must be a non-empty list of {tool_call_id, output}")
    by_id = {str(o.get("tool_call_id")): o.get("output") for o in outputs}
    expected = chat.required_action.id
    if expected not in by_id or not isinstance(by_id[expected], str):
        raise bad_params(f"tool_outputs has no output for tool call {expected!r}")
    bot = state.bot(chat.bot_id)
    reply, messages = decide_turn(state, chat, bot, tool_output=by_id[expected])
    chat.required_action = None
    stream = call.field("stream", False) is True
    return _start_turn(state, chat, bot, reply, messages, stream=stream, first_turn=False)


ENDPOINTS = (
    Endpoint("chat.create", "/v3/chat", ("POST",), create_chat, streams=body_stream_flag),
    Endpoint("chat.retrieve", "/v3/chat/retrieve", ("GET", "POST"), retrieve_chat),
    Endpoint("chat.messages.list", "/v3/chat/message/list", ("GET",), list_chat_messages),
    Endpoint("chat.cancel", "/v3/chat/cancel", ("POST",), cancel_chat),
    Endpoint(
        "chat.submit_tool_outputs",
        "/v3/chat/submit_tool_outputs",
        ("POST",),
        submit_tool_outputs,
        streams=body_stream_flag,
    ),
)
