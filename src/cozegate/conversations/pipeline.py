"""The built-in ``message_create`` handler: a user message in, the bot's reply out, asked of Coze once.

1. ask the tenant's bot (``BotConversations``: route, conversation, masking, knowledge, the chat); an
   "asking" mark is recorded (``coze_chats``) before the user's message leaves for Coze, and the chat's id
   as soon as Coze announces it;
2. record question, answer and reply, and enqueue the reply's delivery, in one transaction.

Exactly once at Coze: a later attempt of the same event (a crash, a timeout, a retried failure) follows
the recorded chat to its end instead of asking again; when the attempt that started it died between the
mark and the announcement, the chat is found by the tag on the user's message (``find_chat``). A chat Coze
ends failed (or that is cancelled at its deadline) is not asked again either: the tenant's
``fallback_reply`` answers, or, without one, the event is dead-lettered with Coze's code and log id; an
operator's replay of that dead letter asks again. Once a reply is recorded, a redelivered event goes
straight to delivery.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from cozegate.conversations.bot_conversation import (
    Answer,
    BotConversations,
    NoBotError,
    Question,
    Started,
    TenantMisconfiguredError,
    UnknownTenantError,
)
from cozegate.conversations.replies import reply_event
from cozegate.conversations.store import FALLBACK_CHAT_ID, ChatRef, ConversationStore, Turn
from cozegate.coze import ChatFailedError, CozeCallError
from cozegate.coze.chat_runner import CANCEL_SECONDS
from cozegate.inbox import Event, Inbox, PermanentError
from cozegate.tenants.live import LiveTenants
from cozegate.webhooks.envelope import EventEnvelope

log = logging.getLogger(__name__)

RESERVE_SECONDS = CANCEL_SECONDS + 1.0  # of the handler's time: to cancel a late chat at Coze, then record
RESERVE_SHARE = 0.2  # ... at most this share of it


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
        if tenant is None:
            raise PermanentError(f"no tenant named {event.tenant!r}")
        progress = await self._store.progress(event.tenant, event.dedup_key)
        if progress.answered:
            return  # answered before a crash; its delivery event is already queued
        try:
            line = self._talk.line(event.tenant)
        except (TenantMisconfiguredError, UnknownTenantError) as exc:
            raise PermanentError(str(exc)) from None
        question = Question(
            user_id=envelope.user_id or envelope.conversation_id,
            text=envelope.message.content,
            conversation=envelope.conversation_id,
            owner=envelope.user_id,
            tag=f"{event.tenant}/{event.dedup_key}",
        )
        known = progress.chat
        if known is not None and known.failed:  # failed before: its answer is the policy's, never a second chat
            answer = self._after_failure(tenant.fallback_reply, known.chat_id, known.bot_id, question, known.error)
            return await self._record(event, envelope, tenant.reply_url, answer)
        if known is not None and not known.announced:  # asked before, and the chat never announced here
            known = await self._talk.find_chat(line, question)  # None: Coze never got the message
            if known is not None:
                await self._store.record_chat(event.tenant, event.dedup_key, known)
        started: list[Started] = []

        async def record_asking(chat: ChatRef) -> None:  # before the message leaves: a later attempt looks first
            await self._store.record_chat(event.tenant, event.dedup_key, chat)

        async def record_start(chat: Started) -> None:
            started.append(chat)
            await self._store.record_chat(event.tenant, event.dedup_key, chat.ref())

        try:
            answer = await self._talk.ask(
                line,
                _resuming(question, known),
                on_asking=record_asking,
                on_started=record_start,
                deadline=_chat_deadline(event),
            )
        except ChatFailedError as exc:
            ref = started[-1].ref() if started else known
            if ref is not None:
                await self._store.record_chat(event.tenant, event.dedup_key, _failed(ref, str(exc)))
            bot_id = ref.bot_id if ref is not None else ""
            answer = self._after_failure(tenant.fallback_reply, exc.chat_id, bot_id, question, str(exc))
        except (TenantMisconfiguredError, NoBotError) as exc:
            raise PermanentError(str(exc)) from None
        except CozeCallError as exc:
            if not exc.retryable:
                raise PermanentError(str(exc)) from exc
            raise
        await self._record(event, envelope, tenant.reply_url, answer)

    @staticmethod
    def _after_failure(
        fallback: str | None, chat_id: str, bot_id: str, question: Question, error: str | None
    ) -> Answer:
        """The tenant's fallback reply for a failed chat, or a dead letter that says why."""
        if fallback is None:
            raise PermanentError(f"{error} (no fallback_reply configured: replay to ask Coze again)")
        log.warning("chat failed; the tenant's fallback reply answers", extra={"coze_chat_id": chat_id})
        return Answer(fallback, bot_id, chat_id, question.conversation, fallback=True)

    async def _record(self, event: Event, envelope: EventEnvelope, reply_url: str | None, answer: Answer) -> None:
        assert envelope.message is not None
        assert envelope.conversation_id
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
        outbox = [reply_event(event, envelope.conversation_id, envelope.user_id, answer.text)] if reply_url else []
        await self._inbox.commit(lambda conn: self._store.record_turn_in(conn, turn), outbox)
        log.info("answered", extra={"tenant": event.tenant, "coze_chat_id": chat_id, "fallback": answer.fallback})


def _chat_deadline(event: Event) -> float | None:
    """When the chat must end: before the handler's own deadline, leaving time to cancel it and record."""
    if event.deadline is None:
        return None
    left = event.deadline - asyncio.get_running_loop().time()
    return event.deadline - min(RESERVE_SECONDS, left * RESERVE_SHARE)


def _resuming(question: Question, known: ChatRef | None) -> Question:
    if known is None:
        return question
    log.info("following the chat an earlier attempt started", extra={"coze_chat_id": known.chat_id})
    return replace(question, chat=known)


def _failed(ref: ChatRef, error: str) -> ChatRef:
    return ChatRef(ref.coze_conversation, ref.chat_id, ref.bot_id, error)
