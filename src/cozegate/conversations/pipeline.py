"""The built-in ``message_create`` handler: a user message in, the bot's reply out.

1. map the external conversation to a Coze conversation (created on the first message, remembered);
2. run the chat (streaming, local tools for ``requires_action``, resume after a broken stream);
3. record question, answer and reply, and enqueue the reply's delivery, in one transaction.

Steps 1-2 run again only if step 3 never committed (a crash before it); once a reply is recorded,
a redelivered event goes straight to delivery, which its own idempotent inbox event performs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable

from cozegate.conversations.store import ConversationStore, Turn
from cozegate.conversations.turns import bot_for, coze_conversation_for, outbound_text
from cozegate.coze import CozeCallError, CozeClient, ToolRunner, run_chat
from cozegate.coze.chat_runner import ChatAnswer
from cozegate.coze.clients import CozeClients
from cozegate.health.routing import HealthRouting
from cozegate.inbox import INTERNAL_EVENT_PREFIX, Event, Inbox, NewEvent, PermanentError
from cozegate.ingress.envelope import EventEnvelope
from cozegate.observability.log_context import bind_log_fields
from cozegate.observability.tracing import current_traceparent
from cozegate.rollout import Exposures
from cozegate.tenants import TenantRegistry
from cozegate.tenants.registry import TenantBot

log = logging.getLogger(__name__)

REPLY_EVENT = INTERNAL_EVENT_PREFIX + "reply"
# (tenant, the user's words, the text for Coze) -> the text for Coze, e.g. with knowledge passages
Augment = Callable[[str, str, str], Awaitable[str]]
FALLBACK_CHAT_ID = "cozegate-fallback"  # stored as the chat id of a turn answered by a bot's fallback reply


class MessagePipeline:
    def __init__(
        self,
        store: ConversationStore,
        coze: CozeClients,
        tenants: Callable[[], TenantRegistry],
        inbox: Inbox,
        tools: ToolRunner | None = None,
        exposures: Exposures | None = None,
        routing: HealthRouting | None = None,
        augment: Augment | None = None,
    ) -> None:
        self._store = store
        self._coze = coze
        self._tenants = tenants
        self._inbox = inbox
        self._tools = tools
        self._exposures = exposures or Exposures()
        self._routing = routing or HealthRouting()
        self._augment = augment

    async def handle_message(self, event: Event) -> None:
        envelope = EventEnvelope.model_validate_json(event.payload_text)
        if envelope.message is None or not envelope.conversation_id:
            raise PermanentError("message_create needs `conversation_id` and `message.content`")
        tenant = self._tenants().bot(event.tenant)
        if tenant is None or not (tenant.bot_id or tenant.rollout):
            raise PermanentError(f"tenant {event.tenant} has no bot_id (or rollout) configured")
        if await self._store.reply_for(event.tenant, event.dedup_key) is not None:
            return  # answered before a crash; its delivery event is already queued
        user_id = envelope.user_id or envelope.conversation_id
        try:
            coze = self._coze.for_account(tenant.coze_token, tenant.coze_base_url)
        except PermissionError as exc:
            raise PermanentError(str(exc)) from None
        try:
            bot_id, fallback = self._routing.route(event.tenant, bot_for(tenant, user_id, self._exposures))
        except LookupError as exc:
            raise PermanentError(str(exc)) from None
        bind_log_fields(bot=bot_id)
        if fallback is not None:  # the bot's circuit is open (health incident): its polite reply instead
            answer_text, chat_id = fallback, FALLBACK_CHAT_ID
        else:
            answer = await self._ask_coze(coze, event, envelope, tenant, bot_id, user_id)
            answer_text, chat_id = answer.text, answer.chat_id
        turn = Turn(
            tenant=event.tenant,
            source_event=event.dedup_key,
            conversation_id=envelope.conversation_id,
            user_id=envelope.user_id,
            question=envelope.message.content,
            answer=answer_text,
            coze_chat_id=chat_id,
        )
        delivery = None
        if tenant.reply_url:
            body = {
                "event_type": "bot_reply",
                "event_id": f"reply-{event.dedup_key}",
                "in_reply_to": event.dedup_key,
                "conversation_id": envelope.conversation_id,
                "user_id": envelope.user_id,
                "message": {"role": "assistant", "content": answer_text},
            }
            delivery = NewEvent(
                event.tenant,
                f"reply:{event.dedup_key}",
                REPLY_EVENT,
                json.dumps(body, ensure_ascii=False),
                event.request_id,
                time.time(),
                f"reply:{event.tenant}/{envelope.conversation_id}",
                current_traceparent(),
            )
        queued = await self._store.record_turn(turn, delivery)
        if queued:
            self._inbox.committed_elsewhere(queued)
        log.info("answered", extra={"tenant": event.tenant, "coze_chat_id": chat_id})

    async def _ask_coze(
        self, coze: CozeClient, event: Event, envelope: EventEnvelope, tenant: TenantBot, bot_id: str, user_id: str
    ) -> ChatAnswer:
        assert envelope.message is not None
        assert envelope.conversation_id
        try:
            coze_conversation = await coze_conversation_for(
                self._store, coze, event.tenant, envelope.conversation_id, bot_id, envelope.user_id
            )
            text = outbound_text(envelope.message.content, tenant.mask_pii_to_coze)
            if self._augment is not None:
                text = await self._augment(event.tenant, envelope.message.content, text)
            return await run_chat(
                coze, bot_id=bot_id, user_id=user_id, conversation_id=coze_conversation, text=text, tools=self._tools
            )
        except CozeCallError as exc:
            if not exc.retryable:
                raise PermanentError(str(exc)) from exc
            raise
