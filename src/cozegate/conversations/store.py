"""Conversation state in the database: external ↔ Coze conversation ids, transcripts, replies."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cozegate.storage import Database
from cozegate.storage.schema import coze_chats, coze_conversations, replies, transcript_messages

FALLBACK_CHAT_ID = "cozegate-fallback"  # the chat id recorded for an answer no Coze chat gave (a fallback reply)


@dataclass(frozen=True, slots=True)
class ChatRef:
    """The Coze chat an event's handling started; ``chat_id`` empty: asked for, not (yet) announced."""

    coze_conversation: str
    chat_id: str
    bot_id: str
    error: str | None = None  # set when Coze ended it failed (or it was cancelled at its deadline): why

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def announced(self) -> bool:
        return bool(self.chat_id)


@dataclass(frozen=True, slots=True)
class Progress:
    """Where an event's handling got to: ``answered`` (its reply is recorded), else the chat it started."""

    answered: bool
    chat: ChatRef | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """A user message and the bot's answer to it, recorded together."""

    tenant: str
    source_event: str
    conversation_id: str
    user_id: str | None
    question: str
    answer: str
    coze_chat_id: str


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        self._insert_conversation = insert(coze_conversations).on_conflict_do_nothing()
        r, c = replies.c, coze_chats.c
        # built once: statements made per call cost their cache key on every execution
        self._insert_reply = replies.insert()
        self._forget_chat = delete(coze_chats).where(
            c.tenant == bindparam("b_tenant"), c.source_event == bindparam("b_source_event")
        )
        self._mark_delivered = (
            update(replies)
            .where(r.tenant == bindparam("b_tenant"), r.source_event == bindparam("b_source_event"))
            .values(delivered_at=bindparam("b_delivered_at"))
        )
        upsert = insert(coze_chats)
        self._record_chat = upsert.on_conflict_do_update(
            index_elements=[coze_chats.c.tenant, coze_chats.c.source_event],
            set_={
                "coze_conversation_id": upsert.excluded.coze_conversation_id,
                "chat_id": upsert.excluded.chat_id,
                "bot_id": upsert.excluded.bot_id,
                "status": upsert.excluded.status,
                "error": upsert.excluded.error,
                "started_at": upsert.excluded.started_at,
            },
        )

    async def mapping(self, tenant: str, external_id: str) -> tuple[str, str | None] | None:
        """The Coze conversation of an external one and the user it belongs to (if recorded), if mapped."""
        c = coze_conversations.c
        stmt = select(c.coze_conversation_id, c.user_id).where(c.tenant == tenant, c.external_id == external_id)
        row = await self._db.read(lambda conn: conn.execute(stmt).first())
        return (str(row.coze_conversation_id), row.user_id) if row is not None else None

    async def remember_conversation(
        self, tenant: str, external_id: str, coze_id: str, bot_id: str, user_id: str | None = None
    ) -> str:
        """Store the mapping; if another writer stored one first, theirs wins and is returned."""

        def work(conn: Connection) -> str:
            conn.execute(
                self._insert_conversation,
                {
                    "tenant": tenant,
                    "external_id": external_id,
                    "coze_conversation_id": coze_id,
                    "bot_id": bot_id,
                    "created_at": time.time(),
                    "user_id": user_id,
                },
            )
            stored = conn.execute(
                select(coze_conversations.c.coze_conversation_id).where(
                    coze_conversations.c.tenant == tenant, coze_conversations.c.external_id == external_id
                )
            ).scalar_one()
            return str(stored)

        return await self._db.write(work)

    async def progress(self, tenant: str, source_event: str) -> Progress:
        """How far the handling of this event got: answered (its reply recorded), or the chat it started."""
        c, r = coze_chats.c, replies.c
        answered = select(r.source_event).where(r.tenant == tenant, r.source_event == source_event)
        chat = select(c.coze_conversation_id, c.chat_id, c.bot_id, c.error).where(
            c.tenant == tenant, c.source_event == source_event
        )

        def work(conn: Connection) -> Progress:
            if conn.execute(answered).first() is not None:
                return Progress(answered=True)
            row = conn.execute(chat).first()
            known = ChatRef(row.coze_conversation_id, row.chat_id, row.bot_id, row.error) if row else None
            return Progress(answered=False, chat=known)

        return await self._db.read(work)

    async def record_chat(self, tenant: str, source_event: str, chat: ChatRef) -> None:
        """Remember (durably, before anything else happens to it) the chat this event's handling started."""
        values = {
            "tenant": tenant,
            "source_event": source_event,
            "coze_conversation_id": chat.coze_conversation,
            "chat_id": chat.chat_id,
            "bot_id": chat.bot_id,
            "status": "failed" if chat.failed else "running" if chat.announced else "asking",
            "error": chat.error,
            "started_at": time.time(),
        }
        await self._db.write(lambda conn: conn.execute(self._record_chat, values))

    async def record_turn(self, turn: Turn) -> None:
        """Both transcript lines and the reply, in a transaction of their own."""
        await self._db.write(lambda conn: self.record_turn_in(conn, turn))

    async def record_exchange(self, turn: Turn) -> None:
        """Both transcript lines of an exchange answered on the spot (the chat proxy: no reply to deliver)."""
        await self._db.write(lambda conn: self._transcript_in(conn, turn, time.time()))

    def record_turn_in(self, conn: Connection, turn: Turn) -> None:
        """Both transcript lines and the reply, inside the caller's transaction (with the reply's outbox event);
        the chat record of the event goes (the recorded reply answers any later attempt)."""
        now = time.time()
        self._transcript_in(conn, turn, now)
        conn.execute(self._forget_chat, {"b_tenant": turn.tenant, "b_source_event": turn.source_event})
        reply = {
            "tenant": turn.tenant,
            "source_event": turn.source_event,
            "conversation_id": turn.conversation_id,
            "text": turn.answer,
            "coze_chat_id": turn.coze_chat_id,
            "created_at": now,
        }
        conn.execute(self._insert_reply, reply)

    @staticmethod
    def _transcript_in(conn: Connection, turn: Turn, now: float) -> None:
        conn.execute(
            transcript_messages.insert(),
            [
                {
                    "tenant": turn.tenant,
                    "conversation_id": turn.conversation_id,
                    "user_id": turn.user_id,
                    "role": role,
                    "content": content,
                    "source_event": turn.source_event,
                    "coze_chat_id": turn.coze_chat_id,
                    "created_at": now,
                }
                for role, content in (("user", turn.question), ("assistant", turn.answer))
            ],
        )

    def delivered_in(self, tenant: str, source_event: str) -> Callable[[Connection], object]:
        """The work that marks the reply to ``source_event`` delivered, inside the caller's transaction."""
        values = {"b_tenant": tenant, "b_source_event": source_event, "b_delivered_at": time.time()}
        return lambda conn: conn.execute(self._mark_delivered, values)

    async def transcript(
        self, tenant: str, conversation_id: str, *, after_id: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        t = transcript_messages
        stmt = (
            select(t.c.id, t.c.role, t.c.content, t.c.user_id, t.c.source_event, t.c.created_at)
            .where(t.c.tenant == tenant, t.c.conversation_id == conversation_id, t.c.id > after_id)
            .order_by(t.c.id)
            .limit(limit)
        )
        return await self._db.read(lambda conn: [dict(r._mapping) for r in conn.execute(stmt)])
