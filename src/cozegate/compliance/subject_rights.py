"""Data subject rights (GDPR / PIPL): export everything held about a user, erase it, and purge by age.

What is held about user U of tenant T (found by exact field values: a payload's ``user_id``, a
transcript line's user, a context record's subject; never because some text merely contains U):
- context records about U (their profile and the contexts of their conversations);
- U's conversations: those with a transcript line, context record or inbox event of U. One where only
  U speaks is U's entirely (transcript, replies, Coze mapping, dialog state, every event); in one
  shared with others only U's own messages, the bot's answers to them and U's events are U's;
- inbox events (including dead letters and reply deliveries) whose ``user_id`` is U.

Erasure deletes the records, transcripts, replies and mappings, and blanks the inbox events (payload,
errors and attempt log; the row stays so that a re-sent event is still recognised as a duplicate,
and unfinished ones are discarded so that nothing re-creates the data). The audit log keeps only a
pseudonym of the subject (a keyed hash), never the user id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, update

from cozegate.compliance.audit import AuditLog
from cozegate.conversations.context.store import ContextStore
from cozegate.storage import Database
from cozegate.storage.schema import coze_chats, coze_conversations, inbox_events, replies, transcript_messages

ERASED_PAYLOAD = '{"erased":true}'

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErasureReport:
    subject: str  # the pseudonym
    contexts: int
    conversations: int
    transcript_lines: int
    replies: int
    events: int
    coze_conversations_deleted: int = 0
    coze_conversations_left: tuple[str, ...] = ()  # Coze ids that could not be deleted there (delete by hand)


class PrivacyNotConfiguredError(RuntimeError):
    """No pseudonym key: the audit trace of an export or erasure could not hide the user id."""


def pseudonym(tenant: str, user_id: str, key: bytes) -> str:
    return "subject:" + hmac.new(key, f"{tenant}\x1f{user_id}".encode(), hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class Holdings:
    """Where a subject's data is: found by exact field values, never by substring alone."""

    own_conversations: list[str]  # only the subject speaks in them: everything in them is theirs
    shared_conversations: list[str]  # others speak too: only the subject's own lines and events are theirs
    event_ids: list[int]  # inbox events (messages, reply deliveries, dead letters) that are the subject's
    source_events: list[str]  # dedup keys of the subject's messages (their transcript lines and replies)


class SubjectRights:
    def __init__(
        self,
        db: Database,
        contexts: ContextStore,
        audit: AuditLog,
        pseudonym_key: bytes | None,
        *,
        delete_coze_conversation: Callable[[str, str], Awaitable[None]] | None = None,  # (tenant, Coze id)
    ) -> None:
        self._db = db
        self._contexts = contexts
        self.audit = audit
        self._key_or_none = pseudonym_key
        self._delete_at_coze = delete_coze_conversation

    @property
    def _key(self) -> bytes:
        if not self._key_or_none:
            raise PrivacyNotConfiguredError("set COZEGATE_PSEUDONYM_KEY (the same on every replica) to export or erase")
        return self._key_or_none

    async def export(self, tenant: str, user_id: str, *, actor: str, request_id: str | None = None) -> dict[str, Any]:
        self._key  # noqa: B018 - refuse before reading anything
        records = await self._contexts.about(tenant, user_id)
        holdings = await self._db.read(lambda conn: _holdings(conn, tenant, user_id, records))
        records += await self._contexts.records(tenant, "conversation", holdings.own_conversations)
        held = await self._db.read(lambda conn: _held(conn, tenant, user_id, holdings))
        await self.audit.record(
            actor=actor,
            action="privacy.export",
            tenant=tenant,
            target=pseudonym(tenant, user_id, self._key),
            request_id=request_id,
            details={"conversations": len(held["conversations"]), "events": len(held["events"])},
        )
        unique = {(r["scope"], r["key"]): r for r in records}
        return {
            "tenant": tenant,
            "user_id": user_id,
            "exported_at": time.time(),
            "context_records": [
                {"scope": r["scope"], "key": r["key"], "version": r["version"], "data": r["data"]}
                for r in unique.values()
            ],
            **held,
        }

    async def erase(self, tenant: str, user_id: str, *, actor: str, request_id: str | None = None) -> ErasureReport:
        self._key  # noqa: B018 - refuse before changing anything
        records = await self._contexts.about(tenant, user_id)
        holdings = await self._db.read(lambda conn: _holdings(conn, tenant, user_id, records))
        deleted_at_coze, left_at_coze = await self._erase_at_coze(tenant, holdings)
        counts = await self._db.write(lambda conn: _erase(conn, tenant, user_id, holdings))
        records += await self._contexts.records(tenant, "conversation", holdings.own_conversations)
        erased_contexts = 0
        for scope, key in {(r["scope"], r["key"]) for r in records}:
            erased_contexts += await self._contexts.delete(tenant, scope, key)
        report = ErasureReport(
            subject=pseudonym(tenant, user_id, self._key),
            contexts=erased_contexts,
            conversations=len(holdings.own_conversations) + len(holdings.shared_conversations),
            transcript_lines=counts["transcript_lines"],
            replies=counts["replies"],
            events=counts["events"],
            coze_conversations_deleted=deleted_at_coze,
            coze_conversations_left=tuple(left_at_coze),
        )
        await self.audit.record(
            actor=actor,
            action="privacy.erase",
            tenant=tenant,
            target=report.subject,
            request_id=request_id,
            details={k: v for k, v in report.__dict__.items() if k != "subject"},
        )
        return report

    async def _erase_at_coze(self, tenant: str, holdings: Holdings) -> tuple[int, list[str]]:
        """Delete the user's own conversations at Coze too; the ones that fail are reported, not fatal."""
        m = coze_conversations.c
        stmt = select(m.coze_conversation_id).where(m.tenant == tenant, m.external_id.in_(holdings.own_conversations))
        coze_ids = list(await self._db.read(lambda conn: conn.execute(stmt).scalars().all()))
        if self._delete_at_coze is None:
            return 0, coze_ids
        deleted, left = 0, []
        for coze_id in coze_ids:
            try:
                await self._delete_at_coze(tenant, coze_id)
                deleted += 1
            except Exception as exc:
                log.warning("Coze conversation %s not deleted: %s", coze_id, exc.__class__.__name__)
                left.append(coze_id)
        return deleted, left


def _payload_fields(payload: str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json_strings(value: str) -> set[str]:
    """The ways a sender's JSON may spell the string (with or without \\u escapes)."""
    return {json.dumps(value), json.dumps(value, ensure_ascii=False)}


def _mentioning(tenant: str, value: str) -> Any:
    """A cheap prefilter (the payload contains the value as a JSON string); callers then check fields exactly."""
    c = inbox_events.c
    return and_(c.tenant == tenant, or_(*(c.payload.contains(q, autoescape=True) for q in _json_strings(value))))


def _holdings(conn: Connection, tenant: str, user_id: str, records: list[dict[str, Any]]) -> Holdings:
    e, t = inbox_events.c, transcript_messages.c
    subject_events: dict[int, tuple[str, str | None]] = {}  # id -> (dedup key, conversation)
    for row in conn.execute(select(e.id, e.dedup_key, e.payload).where(_mentioning(tenant, user_id))):
        fields = _payload_fields(row.payload)
        if fields.get("user_id") == user_id:
            conversation = fields.get("conversation_id")
            subject_events[row.id] = (row.dedup_key, conversation if isinstance(conversation, str) else None)
    candidates = {conv for _, conv in subject_events.values() if conv}
    candidates |= {r["key"] for r in records if r["scope"] == "conversation"}
    candidates |= set(
        conn.execute(select(t.conversation_id).where(t.tenant == tenant, t.user_id == user_id).distinct()).scalars()
    )
    m = coze_conversations.c  # conversations of the chat proxy, which keeps no transcript
    candidates |= set(conn.execute(select(m.external_id).where(m.tenant == tenant, m.user_id == user_id)).scalars())
    own, shared = [], []
    event_ids = set(subject_events)
    for conversation in sorted(candidates):
        speakers = set(
            conn.execute(
                select(t.user_id).where(t.tenant == tenant, t.conversation_id == conversation).distinct()
            ).scalars()
        )
        in_conversation = conn.execute(
            select(e.id, e.payload).where(e.tenant == tenant, e.ordering_key == f"{tenant}/{conversation}")
        ).all()
        speakers |= {_payload_fields(row.payload).get("user_id") for row in in_conversation}
        speakers |= set(
            conn.execute(
                select(m.user_id).where(m.tenant == tenant, m.external_id == conversation, m.user_id.is_not(None))
            ).scalars()
        )
        if speakers <= {user_id, None}:
            own.append(conversation)
            event_ids |= {row.id for row in in_conversation}
            mentioning = conn.execute(select(e.id, e.payload).where(_mentioning(tenant, conversation))).all()
            event_ids |= {  # e.g. reply deliveries, which carry no ordering key
                found.id
                for found in mentioning
                if _payload_fields(found.payload).get("conversation_id") == conversation
            }
        else:
            shared.append(conversation)
    source_events = sorted(key for key, _ in subject_events.values())
    return Holdings(own, shared, sorted(event_ids), source_events)


def _transcript_filter(tenant: str, user_id: str, holdings: Holdings) -> Any:
    t = transcript_messages.c
    return and_(
        t.tenant == tenant,
        or_(
            t.conversation_id.in_(holdings.own_conversations),
            t.user_id == user_id,
            t.source_event.in_(holdings.source_events),  # the bot's answers to the subject
        ),
    )


def _reply_filter(tenant: str, holdings: Holdings) -> Any:
    r = replies.c
    return and_(
        r.tenant == tenant,
        or_(r.conversation_id.in_(holdings.own_conversations), r.source_event.in_(holdings.source_events)),
    )


def _held(conn: Connection, tenant: str, user_id: str, holdings: Holdings) -> dict[str, Any]:
    t, r, m, e = transcript_messages.c, replies.c, coze_conversations.c, inbox_events.c
    transcript = conn.execute(
        select(t.conversation_id, t.role, t.content, t.user_id, t.created_at)
        .where(_transcript_filter(tenant, user_id, holdings))
        .order_by(t.id)
    ).mappings()
    reply_rows = conn.execute(
        select(r.conversation_id, r.text, r.created_at, r.delivered_at).where(_reply_filter(tenant, holdings))
    ).mappings()
    mappings = conn.execute(
        select(m.external_id, m.coze_conversation_id, m.bot_id).where(
            m.tenant == tenant, m.external_id.in_(holdings.own_conversations)
        )
    ).mappings()
    events = conn.execute(
        select(e.id, e.event_type, e.status, e.received_at, e.payload, e.last_error)
        .where(e.id.in_(holdings.event_ids))
        .order_by(e.id)
    ).mappings()
    return {
        "conversations": sorted(holdings.own_conversations + holdings.shared_conversations),
        "transcript": [dict(row) for row in transcript],
        "replies": [dict(row) for row in reply_rows],
        "coze_conversations": [dict(row) for row in mappings],
        "events": [{**row, "payload": _json_or_text(row["payload"])} for row in events],
    }


def _erase(conn: Connection, tenant: str, user_id: str, holdings: Holdings) -> dict[str, int]:
    m, e = coze_conversations.c, inbox_events.c
    lines = conn.execute(delete(transcript_messages).where(_transcript_filter(tenant, user_id, holdings))).rowcount
    reply_count = conn.execute(delete(replies).where(_reply_filter(tenant, holdings))).rowcount
    conn.execute(delete(coze_conversations).where(m.tenant == tenant, m.external_id.in_(holdings.own_conversations)))
    c = coze_chats.c  # which Coze chats the subject's messages started (ids only, but theirs)
    conn.execute(delete(coze_chats).where(c.tenant == tenant, c.source_event.in_(holdings.source_events)))
    now = time.time()
    chosen = e.id.in_(holdings.event_ids)
    conn.execute(  # unfinished work about the subject must not run again and re-create what was erased
        update(inbox_events)
        .where(chosen, e.status.in_(("pending", "processing", "dead")))
        .values(status="discarded", finished_at=now, lease_owner=None)
    )
    events = conn.execute(
        update(inbox_events)
        .where(chosen)
        .values(payload=ERASED_PAYLOAD, ordering_key=None, last_error=None, attempt_log="[]")
    ).rowcount
    return {"transcript_lines": lines, "replies": reply_count, "events": events}


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
