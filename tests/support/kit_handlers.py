"""Handlers that ask for what they need (loaded into a server by ``COZEGATE_HANDLER_MODULES``): a hook
beside the built-in ``message_create`` pipeline, and a handler of its own that talks to Coze and says
two things back."""

from __future__ import annotations

from cozegate import Event, EventHandlers
from cozegate.conversations.context import ContextStore
from cozegate.conversations.handler_kit import Say
from cozegate.coze import CozeClient
from cozegate.webhooks.envelope import EventEnvelope

handlers = EventHandlers()


@handlers.before("message_create")
async def count_messages(event: Event, envelope: EventEnvelope, contexts: ContextStore) -> None:
    """Counts the conversation's messages in its context, before the bot answers."""
    assert envelope.conversation_id is not None

    def one_more(data: dict[str, object]) -> dict[str, object]:
        return {**data, "messages": int(str(data.get("messages", 0))) + 1}

    await contexts.update(event.tenant, "conversation", envelope.conversation_id, one_more)


@handlers.before("ticket_created")
async def greet(say: Say) -> None:
    await say("hello")  # the hook and the handler share one `say`: their replies are numbered together


@handlers.on("ticket_created")
async def ticket(event: Event, say: Say, coze: CozeClient, contexts: ContextStore, envelope: EventEnvelope) -> None:
    bot = await coze.retrieve_bot("bot-echo")
    await say(f"ticket {envelope.event_id} opened; {bot.name} will answer")
    counted = await contexts.conversation(event.tenant, envelope.conversation_id or "")
    await say(f"messages so far: {counted.data.get('messages', 0)}")
