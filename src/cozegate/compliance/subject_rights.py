"""Data subject rights (GDPR / PIPL): export everything held about a user, erase it, and purge by age.

What is held about user U of tenant T:
- context records about U (their profile and the contexts of their conversations);
- U's conversations: those with a transcript line of U, a context record about U, or an inbox event
  whose payload names U; their transcripts, replies and Coze conversation mappings;
- inbox events (including dead letters and reply deliveries) of those conversations or naming U.

Erasure deletes the records, transcripts, replies and mappings, and blanks the inbox events (payload,
errors and attempt log; the row stays so that a re-sent event is still recognised as a duplicate,
and unfinished ones are discarded so that nothing re-creates the data). The audit log keeps only a
pseudonym of the subject (a keyed hash), never the user id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, update

from cozegate.compliance.audit import AuditLog
from cozegate.conversations.context.store import ContextStore
from cozegate.storage import Database
from cozegate.storage.schema import coze_conversations, inbox_events, replies, transcript_messages

ERASED_PAYLOAD = '{"erased":true}'


@dataclass(frozen=True)
class ErasureReport:
    subject: str  # the pseudonym
    contexts: int
    conversations: int
    transcript_lines: int
    replies: int
    events: int


class PrivacyNotConfiguredError(RuntimeError):
    """No pseudonym key: the audit trace of an export or erasure could not hide the user id."""


def pseudonym(tenant: str, user_id: str, key: bytes) -> str:
    return "subject:" + hmac.new(key, f"{tenant}\x1f{user_id}".encode(), hashlib.sha256).hexdigest()[:16]


class SubjectRights:
    def __init__(self, db: Database, contexts: ContextStore, audit: AuditLog, pseudonym_key: bytes | None) -> None:
        self._db = db
        self._contexts = contexts
        self._audit = audit
        self._key_or_none = pseudonym_key

    @property
    def _key(self) -> bytes:
        if not self._key_or_none:
            raise PrivacyNotConfiguredError("set COZEGATE_PSEUDONYM_KEY (the same on every replica) to export or erase")
        return self._key_or_none

    async def export(self, tenant: str, user_id: str, *, actor: str, request_id: str | None = None) -> dict[str, Any]:
        self._key  # noqa: B018 - refuse before reading anything
        records = await self._contexts.about(tenant, user_id)
        conversations = await self._conversations(tenant, user_id, records)
        held = await self._db.read(lambda conn: _held(conn, tenant, user_id, conversations))
        await self._audit.record(
            actor=actor,
            action="privacy.export",
            tenant=tenant,
            target=pseudonym(tenant, user_id, self._key),
            request_id=request_id,
            details={"conversations": len(conversations), "events": len(held["events"])},
        )
        return {
            "tenant": tenant,
            "user_id": user_id,
            "exported_at": time.time(),
            "context_records": [
                {"scope": r["scope"], "key": r["key"], "version": r["version"], "data": r["data"]} for r in records
            ],
            **held,
        }

    async def erase(self, tenant: str, user_id: str, *, actor: str, request_id: str | None = None) -> ErasureReport:
        self._key  # noqa: B018 - refuse before changing anything
        records = await self._contexts.about(tenant, user_id)
        conversations = await self._conversations(tenant, user_id, records)
        counts = await self._db.write(lambda conn: _erase(conn, tenant, user_id, conversations))
        erased_contexts = await self._contexts.erase(tenant, user_id)
        report = ErasureReport(
            subject=pseudonym(tenant, user_id, self._key),
            contexts=erased_contexts,
            conversations=len(conversations),
            transcript_lines=counts["transcript_lines"],
            replies=counts["replies"],
            events=counts["events"],
        )
        await self._audit.record(
            actor=actor,
            action="privacy.erase",
            tenant=tenant,
            target=report.subject,
            request_id=request_id,
            details={k: v for k, v in report.__dict__.items() if k != "subject"},
        )
        return report

    async def _conversations(self, tenant: str, user_id: str, records: list[dict[str, Any]]) -> list[str]:
        found = {r["key"] for r in records if r["scope"] == "conversation"}
        found |= await self._db.read(lambda conn: _conversations_of(conn, tenant, user_id))
        return sorted(found)


def _naming(tenant: str, user_id: str, conversations: list[str]) -> Any:
    """Inbox events of the conversations or whose payload names the user (as a JSON string)."""
    c = inbox_events.c
    clauses = [c.payload.contains(quoted, autoescape=True) for quoted in _json_strings(user_id)]
    if conversations:
        clauses.append(c.ordering_key.in_([f"{tenant}/{conv}" for conv in conversations]))
        clauses.extend(c.payload.contains(q, autoescape=True) for conv in conversations for q in _json_strings(conv))
    return and_(c.tenant == tenant, or_(*clauses))


def _json_strings(value: str) -> set[str]:
    """The ways a sender's JSON may spell the string (with or without \\u escapes)."""
    return {json.dumps(value), json.dumps(value, ensure_ascii=False)}


def _conversations_of(conn: Connection, tenant: str, user_id: str) -> set[str]:
    t = transcript_messages.c
    found = set(
        conn.execute(select(t.conversation_id).where(t.tenant == tenant, t.user_id == user_id).distinct()).scalars()
    )
    for payload in conn.execute(select(inbox_events.c.payload).where(_naming(tenant, user_id, []))).scalars():
        try:
            conversation = json.loads(payload).get("conversation_id")
        except (ValueError, AttributeError):
            continue
        if isinstance(conversation, str) and conversation:
            found.add(conversation)
    return found


def _held(conn: Connection, tenant: str, user_id: str, conversations: list[str]) -> dict[str, Any]:
    t, r, m = transcript_messages.c, replies.c, coze_conversations.c
    transcript = conn.execute(
        select(t.conversation_id, t.role, t.content, t.user_id, t.created_at)
        .where(t.tenant == tenant, t.conversation_id.in_(conversations))
        .order_by(t.id)
    ).mappings()
    reply_rows = conn.execute(
        select(r.conversation_id, r.text, r.created_at, r.delivered_at).where(
            r.tenant == tenant, r.conversation_id.in_(conversations)
        )
    ).mappings()
    mappings = conn.execute(
        select(m.external_id, m.coze_conversation_id, m.bot_id).where(
            m.tenant == tenant, m.external_id.in_(conversations)
        )
    ).mappings()
    e = inbox_events.c
    events = conn.execute(
        select(e.id, e.event_type, e.status, e.received_at, e.payload, e.last_error)
        .where(_naming(tenant, user_id, conversations))
        .order_by(e.id)
    ).mappings()
    return {
        "conversations": conversations,
        "transcript": [dict(row) for row in transcript],
        "replies": [dict(row) for row in reply_rows],
        "coze_conversations": [dict(row) for row in mappings],
        "events": [{**row, "payload": _json_or_text(row["payload"])} for row in events],
    }


def _erase(conn: Connection, tenant: str, user_id: str, conversations: list[str]) -> dict[str, int]:
    t, r, m, e = transcript_messages.c, replies.c, coze_conversations.c, inbox_events.c
    lines = conn.execute(
        delete(transcript_messages).where(
            t.tenant == tenant, or_(t.conversation_id.in_(conversations), t.user_id == user_id)
        )
    ).rowcount
    reply_count = conn.execute(delete(replies).where(r.tenant == tenant, r.conversation_id.in_(conversations))).rowcount
    conn.execute(delete(coze_conversations).where(m.tenant == tenant, m.external_id.in_(conversations)))
    now = time.time()
    naming = _naming(tenant, user_id, conversations)
    conn.execute(  # unfinished work about the subject must not run again and re-create what was erased
        update(inbox_events)
        .where(naming, e.status.in_(("pending", "processing", "dead")))
        .values(status="discarded", finished_at=now, lease_owner=None)
    )
    events = conn.execute(
        update(inbox_events)
        .where(naming)
        .values(payload=ERASED_PAYLOAD, ordering_key=None, last_error=None, attempt_log="[]")
    ).rowcount
    return {"transcript_lines": lines, "replies": reply_count, "events": events}


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
