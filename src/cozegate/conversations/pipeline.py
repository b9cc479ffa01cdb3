"""The built-in ``message_create`` handler: a user message in, the bot's reply out.

1. ask the tenant's bot (``BotConversations``: route, conversation, masking, knowledge, the chat);
2. record question, answer and reply, and enqueue the reply's delivery, in one transaction.

Step 1 runs again only if step 2 never committed (a crash before it); once a reply is recorded,
a redelivered event goes straight to delivery, which its own idempotent inbox event performs.
"""

from __future__ import annotations

import logging

from cozegate.conversations.bot_conversation import (
    BotConversations,
    NoBotError,
    Question,
    TenantMisconfiguredError,
    UnknownTenantError,
)
from cozegate.conversations.replies import reply_event
from cozegate.conversations.store import ConversationStore, Turn
from cozegate.coze import CozeCallError
from cozegate.inbox import Event, Inbox, PermanentError
from cozegate.tenants.live import LiveTenants
from cozegate.webhooks.envelope import EventEnvelope

log = logging.getLogger(__name__)

FALLBACK_CHAT_ID = "cozegate-fallback"  # stored as the chat id of a turn answered by a bot's fallback reply


class MessagePipeline:
    def __init__(self, talk: BotConversations, store: ConversationStore, tenants: LiveTenants, inbox: Inbox) -> None:
        self._talk = talk
        self._store = store
        self._tenants = tenants
        self._inbox = inbox

    async def handle_message(self, event: Event) -> None:
        envelope = EventEnvelope.model_validate_json(event.payload_text)
        if envelope.message is None or not envelope.conversation_id:
            raise PermanentError("message_create needs `conversation_id` and `message.content`")
        tenant = self._tenants.current.bot(event.tenant)
        if tenant is None or not (tenant.bot_id or tenant.rollout):
            raise PermanentError(f"tenant {event.tenant} has no bot_id (or rollout) configured")
        if await self._store.reply_for(event.tenant, event.dedup_key) is not None:
            return  # answered before a crash; its delivery event is already queued
        question = Question(
            user_id=envelope.user_id or envelope.conversation_id,
            text=envelope.message.content,
            conversation=envelope.conversation_id,
            owner=envelope.user_id,
        )
        try:
            answer = await self._talk.ask(self._talk.line(event.tenant), question)
        except (TenantMisconfiguredError, NoBotError, UnknownTenantError) as exc:
            raise PermanentError(str(exc)) from None
        except CozeCallError as exc:
            if not exc.retryable:
                raise PermanentError(str(exc)) from exc
            raise
        chat_id = answer.chat_id or FALLBACK_CHAT_ID
        turn = Turn(
            tenant=event.tenant,
            source_event=event.dedup_key,
            conversation_id=envelope.conversation_id,
            user_id=envelope.user_id,
            question=envelope.message.content,
            answer=answer.text,
            coze_chat_id=chat_id,
        )
        outbox = (
            [reply_event(event, envelope.conversation_id, envelope.user_id, answer.text)] if tenant.reply_url else []
        )
        await self._inbox.commit(lambda conn: self._store.record_turn_in(conn, turn), outbox)
        log.info("answered", extra={"tenant": event.tenant, "coze_chat_id": chat_id})
