"""Conversations and their messages (create / retrieve / list with first_id-last_id paging / modify / delete)."""

from __future__ import annotations

from typing import Any

from cozegate.coze.simulator.context import Simulator
from cozegate.coze.simulator.dispatch import CozeRequest, Endpoint, JsonReply, Reply
from cozegate.coze.simulator.envelopes import bad_params, envelope, success
from cozegate.coze.simulator.records import INTERMEDIATE_TYPES, ConversationRecord, MessageRecord
from cozegate.coze.simulator.routes_chat import check_meta_data

CONTENT_TYPES = ("text", "object_string", "card")
MAX_PAGE = 50


def _conversation(call: CozeRequest, sim: Simulator) -> ConversationRecord:
    return sim.state.conversation(call.path_params.get("conversation_id") or call.require_param("conversation_id"))


def _add_message(sim: Simulator, conversation: ConversationRecord, given: dict[str, Any]) -> MessageRecord:
    role, content = given.get("role"), given.get("content")
    content_type = given.get("content_type") or "text"
    if role not in ("user", "assistant") or not isinstance(content, str) or content_type not in CONTENT_TYPES:
        raise bad_params("a message needs role user|assistant, a string content and content_type text|object_string")
    message = sim.state.new_message(
        conversation,
        role=role,
        type=str(given.get("type") or ""),
        content=content,
        content_type=content_type,
        meta_data=check_meta_data(given.get("meta_data")),
    )
    return sim.state.append(conversation, message)


async def create_conversation(call: CozeRequest, sim: Simulator) -> Reply:
    bot_id = call.field("bot_id", "")
    if bot_id:
        sim.state.bot(bot_id)
    messages = call.field("messages", [])
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise bad_params("messages must be a list of messages")
    name = str(call.field("name", "") or (messages[0].get("content", "") if messages else ""))[:100]
    conversation = sim.state.create_conversation(
        bot_id=str(bot_id),
        name=name,
        meta_data=check_meta_data(call.json.get("meta_data")),
        connector_id=str(call.field("connector_id", "1024")),
    )
    for given in messages:
        _add_message(sim, conversation, given)
    return JsonReply(envelope(conversation.to_coze()))


async def retrieve_conversation(call: CozeRequest, sim: Simulator) -> Reply:
    return JsonReply(envelope(_conversation(call, sim).to_coze()))


async def list_conversations(call: CozeRequest, sim: Simulator) -> Reply:
    bot_id = call.require_param("bot_id")
    page_num, page_size = call.int_param("page_num", 1), call.int_param("page_size", 50)
    if page_num < 1 or not 1 <= page_size <= 50:
        raise bad_params("page_num must be >= 1 and page_size 1..50")
    matching = sorted(
        (c for c in sim.state.conversations.values() if c.bot_id == bot_id), key=lambda c: int(c.id), reverse=True
    )
    start = (page_num - 1) * page_size
    page = matching[start : start + page_size]
    return JsonReply(
        envelope({"has_more": start + page_size < len(matching), "conversations": [c.to_coze() for c in page]})
    )


async def update_conversation(call: CozeRequest, sim: Simulator) -> Reply:
    conversation = _conversation(call, sim)
    name = call.field("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise bad_params("name must be 1..100 characters")
    conversation.name = name
    conversation.updated_at = sim.clock.now()
    return JsonReply(envelope(conversation.to_coze()))


async def delete_conversation(call: CozeRequest, sim: Simulator) -> Reply:
    conversation = _conversation(call, sim)
    del sim.state.conversations[conversation.id]
    return JsonReply(envelope({}))


async def clear_conversation(call: CozeRequest, sim: Simulator) -> Reply:
    """Clear the context: a new section starts; the history stays listable."""
    conversation = _conversation(call, sim)
    conversation.section_id = sim.ids.next()
    return JsonReply(envelope({"id": conversation.section_id, "conversation_id": conversation.id}))


async def create_message(call: CozeRequest, sim: Simulator) -> Reply:
    conversation = _conversation(call, sim)
    return JsonReply(envelope(_add_message(sim, conversation, call.json).to_coze()))


def _cursor(call: CozeRequest, name: str) -> int | None:
    value = call.json.get(name)
    if value in (None, "", "0", 0):
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise bad_params(f"{name} must be a message id") from exc


async def list_messages(call: CozeRequest, sim: Simulator) -> Reply:
    """Paging as Coze documents it: ``after_id`` = the last id of the previous page (next page, in list order),
    ``before_id`` = the first id of the current page (previous page). Ids grow in creation order."""
    conversation = _conversation(call, sim)
    order = call.field("order", "desc")
    limit = call.field("limit", MAX_PAGE)
    if order not in ("asc", "desc") or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise bad_params("order must be asc|desc and limit 1..50")
    chat_id = call.field("chat_id")
    visible = [
        m for m in conversation.messages if m.type not in INTERMEDIATE_TYPES and (not chat_id or m.chat_id == chat_id)
    ]
    ordered = sorted(visible, key=lambda m: int(m.id), reverse=order == "desc")
    after, before = _cursor(call, "after_id"), _cursor(call, "before_id")

    def comes_after(message: MessageRecord, cursor: int) -> bool:
        return int(message.id) > cursor if order == "asc" else int(message.id) < cursor

    if after is not None:
        rest = [m for m in ordered if comes_after(m, after)]
        page, has_more = rest[:limit], len(rest) > limit
    elif before is not None:
        earlier = [m for m in ordered if not comes_after(m, before) and int(m.id) != before]
        page, has_more = earlier[-limit:], len(earlier) > limit
    else:
        page, has_more = ordered[:limit], len(ordered) > limit
    return JsonReply(
        success(
            data=[m.to_coze() for m in page],
            first_id=page[0].id if page else "",
            last_id=page[-1].id if page else "",
            has_more=has_more,
        )
    )


async def retrieve_message(call: CozeRequest, sim: Simulator) -> Reply:
    conversation = _conversation(call, sim)
    return JsonReply(envelope(sim.state.message(conversation, call.require_param("message_id")).to_coze()))


async def modify_message(call: CozeRequest, sim: Simulator) -> Reply:
    conversation = _conversation(call, sim)
    message = sim.state.message(conversation, call.require_param("message_id"))
    content, content_type = call.json.get("content"), call.json.get("content_type")
    if content is not None:
        if not isinstance(content, str):
            raise bad_params("content must be a string")
        message.content = content
    if content_type is not None:
        if content_type not in CONTENT_TYPES:
            raise bad_params("content_type must be text|object_string")
        message.content_type = content_type
    if call.json.get("meta_data") is not None:
        message.meta_data = check_meta_data(call.json["meta_data"])
    message.updated_at = sim.clock.now()
    return JsonReply(success(message=message.to_coze()))


async def delete_message(call: CozeRequest, sim: Simulator) -> Reply:
    conversation = _conversation(call, sim)
    message = sim.state.message(conversation, call.require_param("message_id"))
    conversation.messages.remove(message)
    return JsonReply(envelope(message.to_coze()))


ENDPOINTS = (
    Endpoint("conversations.create", "/v1/conversation/create", ("POST",), create_conversation),
    Endpoint("conversations.retrieve", "/v1/conversation/retrieve", ("GET",), retrieve_conversation),
    Endpoint("conversations.list", "/v1/conversations", ("GET",), list_conversations),
    Endpoint("conversations.update", "/v1/conversations/{conversation_id}", ("PUT",), update_conversation),
    Endpoint("conversations.delete", "/v1/conversations/{conversation_id}", ("DELETE",), delete_conversation),
    Endpoint("conversations.clear", "/v1/conversations/{conversation_id}/clear", ("POST",), clear_conversation),
    Endpoint("conversations.messages.create", "/v1/conversation/message/create", ("POST",), create_message),
    Endpoint("conversations.messages.list", "/v1/conversation/message/list", ("POST",), list_messages),
    Endpoint("conversations.messages.retrieve", "/v1/conversation/message/retrieve", ("GET",), retrieve_message),
    Endpoint("conversations.messages.update", "/v1/conversation/message/modify", ("POST",), modify_message),
    Endpoint("conversations.messages.delete", "/v1/conversation/message/delete", ("POST",), delete_message),
)
