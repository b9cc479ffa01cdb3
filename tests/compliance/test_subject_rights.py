"""Export and erasure of a user's data, on SQLite and on PostgreSQL + Redis: the export holds everything
seeded; after erasure no table row and no Redis key or value holds the user's identifiers or texts,
another user's data is untouched, and the audit log keeps only a pseudonym."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from examples.refund_flow import RefundFlow
from sqlalchemy import select, text

from cozegate.compliance import AuditLog
from cozegate.compliance.retention import DAY, purge_expired
from cozegate.compliance.subject_rights import SubjectRights, pseudonym
from cozegate.conversations.context import ContextCache, ContextStore, MemoryContextCache, RedisContextCache
from cozegate.conversations.store import ConversationStore, Turn
from cozegate.inbox import InboxStore, NewEvent
from cozegate.storage import Database
from cozegate.storage.schema import metadata
from tests.conftest import REDIS_URL, Backend

KEY = b"pseudonym-test-key"
USER, OTHER = "u-erase-7f3a", "u-keep-91c2"
SECRETS = [
    USER,
    "conv-e1-5d2b",
    "conv-e2-8a1c",
    "PineappleSecretText",
    "ReplyMarkerText",
    "13812345678",
    "DeadLetterText",
]
KEPT = [OTHER, "conv-k-44f0", "KeepMeText"]


@pytest.fixture
async def redis_client(backend: Backend) -> AsyncIterator[aioredis.Redis | None]:
    if backend.is_sqlite:
        yield None
        return
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
def contexts(db: Database, backend: Backend, redis_client: aioredis.Redis | None) -> ContextStore:
    cache: ContextCache = (
        RedisContextCache(redis_client, backend.env["COZEGATE_REDIS_PREFIX"], 3600)
        if redis_client is not None
        else MemoryContextCache(3600)
    )
    return ContextStore(db, cache)


def message(event_id: str, conversation: str, user: str, content: str) -> NewEvent:
    body = {"event_type": "message_create", "event_id": event_id, "conversation_id": conversation,
            "user_id": user, "message": {"role": "user", "content": content}}  # fmt: skip
    return NewEvent("t", event_id, "message_create", json.dumps(body), "req", time.time(), f"t/{conversation}")


async def seed(db: Database, contexts: ContextStore) -> None:
    inbox = InboxStore(db)
    await inbox.insert_batch(
        [
            message("evt-1", "conv-e1-5d2b", USER, "PineappleSecretText, call me on 13812345678"),
            message("evt-2", "conv-e2-8a1c", USER, "where is my order"),
            message("evt-3", "conv-e1-5d2b", USER, "still waiting"),
            message("evt-k", "conv-k-44f0", OTHER, "KeepMeText"),
        ]
    )
    await db.write(lambda conn: conn.execute(text("UPDATE inbox_events SET status = 'done' WHERE dedup_key = 'evt-1'")))
    await db.write(
        lambda conn: conn.execute(
            text("UPDATE inbox_events SET status = 'dead', last_error = 'DeadLetterText' WHERE dedup_key = 'evt-2'")
        )
    )
    conversations = ConversationStore(db)
    await conversations.remember_conversation("t", "conv-e1-5d2b", "coze-conv-1", "bot-echo")
    reply = NewEvent(
        "t",
        "reply:evt-1",
        "cozegate.reply",
        json.dumps({"conversation_id": "conv-e1-5d2b", "message": {"content": "ReplyMarkerText"}}),
        "req",
        time.time(),
    )
    turn = Turn("t", "evt-1", "conv-e1-5d2b", USER, "PineappleSecretText", "ReplyMarkerText", "chat-1")
    await conversations.record_turn(turn)
    await inbox.insert_batch([reply])
    await conversations.record_turn(Turn("t", "evt-k", "conv-k-44f0", OTHER, "KeepMeText", "ok", "chat-2"))
    await contexts.put("t", "user", USER, {"phone": "13812345678", "name": "PineappleSecretText"}, expected_version=0)
    await RefundFlow(contexts, "t", "conv-e1-5d2b", subject=USER).fire("start")
    await contexts.put("t", "user", OTHER, {"note": "KeepMeText"}, expected_version=0)
    await contexts.get("t", "user", USER)  # cached now


async def everything(db: Database, redis_client: aioredis.Redis | None, prefix: str) -> str:
    """Every row of every table, and every Redis key and value of this test, as one text."""
    dump: list[Any] = []
    for table in metadata.sorted_tables:
        rows = await db.read(lambda conn, t=table: [dict(r._mapping) for r in conn.execute(select(t))])  # type: ignore[misc]
        dump.append({table.name: rows})
    if redis_client is not None:
        async for key in redis_client.scan_iter(match=prefix + "*"):
            kind = await redis_client.type(key)
            value = await redis_client.get(key) if kind == b"string" else await redis_client.dump(key)
            dump.append({"key": key.decode(errors="replace"), "value": repr(value)})
    return json.dumps(dump, default=str, ensure_ascii=False)


async def test_export_holds_everything_and_erase_leaves_nothing(
    db: Database, contexts: ContextStore, backend: Backend, redis_client: aioredis.Redis | None
) -> None:
    await seed(db, contexts)
    prefix = backend.env.get("COZEGATE_REDIS_PREFIX", "none:")
    before = await everything(db, redis_client, prefix)
    assert all(marker in before for marker in SECRETS + KEPT)  # the scan sees what it must later miss
    if redis_client is not None:
        assert USER in before.split('"key"', 1)[1]  # the profile is in the Redis cache

    audit = AuditLog(db)
    rights = SubjectRights(db, contexts, audit, KEY)
    held = await rights.export("t", USER, actor="test")
    exported = json.dumps(held, ensure_ascii=False)
    assert all(marker in exported for marker in SECRETS)
    assert not any(marker in exported for marker in KEPT)
    assert held["conversations"] == ["conv-e1-5d2b", "conv-e2-8a1c"]
    assert {e["payload"]["event_id"] for e in held["events"] if "event_id" in e["payload"]} == {
        "evt-1",
        "evt-2",
        "evt-3",
    }
    assert len(held["context_records"]) == 2

    report = await rights.erase("t", USER, actor="test")
    assert (report.contexts, report.conversations) == (2, 2)
    after = await everything(db, redis_client, prefix)
    leaks = [marker for marker in SECRETS if marker in after]
    assert leaks == [], after
    assert all(marker in after for marker in KEPT)
    assert pseudonym("t", USER, KEY) in after  # the audit trace, by pseudonym only
    assert (await audit.verify()).intact
    statuses = await db.read(lambda conn: dict(conn.execute(text("SELECT dedup_key, status FROM inbox_events")).all()))
    assert statuses["evt-3"] == "discarded"  # pending work about the user will not run again
    assert statuses["evt-k"] == "pending"
    assert await contexts.profile("t", USER) == await contexts.profile("t", "nobody")


async def test_retention_purges_what_is_older_than_the_limit(db: Database, contexts: ContextStore) -> None:
    await seed(db, contexts)
    future = time.time() + 31 * DAY
    assert await purge_expired(db, contexts, {"t": 60}, now=future) == {
        "t": {"transcript_lines": 0, "replies": 0, "events": 0, "dead_letters": 0, "contexts": 0}
    }
    removed = (await purge_expired(db, contexts, {"t": 30}, now=future))["t"]
    assert removed == {"transcript_lines": 4, "replies": 2, "events": 1, "dead_letters": 1, "contexts": 3}
    assert await contexts.profile("t", OTHER) == await contexts.profile("t", "nobody")


async def test_erasure_touches_only_the_subjects_data(db: Database, contexts: ContextStore) -> None:
    inbox = InboxStore(db)
    conversations = ConversationStore(db)
    await inbox.insert_batch(
        [
            message("a-1", "conv-alice", "Alice", "hello from Alice"),
            message("l-1", "conv-lower", "alice", "I am another alice"),
            message("b-1", "conv-bob", "bob", "my old number was 10086, call it"),
            message("g-1", "conv-group", "Alice", "Alice in the group"),
            message("g-2", "conv-group", "carol", "Carol in the group"),
        ]
    )
    await conversations.record_turn(Turn("t", "g-1", "conv-group", "Alice", "Alice in the group", "hi A", "c1"))
    await conversations.record_turn(Turn("t", "g-2", "conv-group", "carol", "Carol in the group", "hi C", "c2"))
    await RefundFlow(contexts, "t", "conv-alice").fire("start")  # a dialog that never named its subject
    rights = SubjectRights(db, contexts, AuditLog(db), KEY)

    await rights.erase("t", "Alice", actor="test")
    await rights.erase("t", "10086", actor="test")  # an id that is also text in bob's message
    after = await everything(db, None, "none:")
    for gone in ("hello from Alice", "Alice in the group", "hi A"):
        assert gone not in after
    for kept in ("I am another alice", "my old number was 10086", "Carol in the group", "hi C"):
        assert kept in after
    assert await contexts.conversation("t", "conv-alice") == await contexts.conversation("t", "nothing")


async def test_the_users_own_conversations_are_deleted_at_coze_too(db: Database, contexts: ContextStore) -> None:
    await seed(db, contexts)
    deleted: list[str] = []

    async def delete_at_coze(tenant: str, conversation_id: str) -> None:
        deleted.append(f"{tenant}/{conversation_id}")

    rights = SubjectRights(db, contexts, AuditLog(db), KEY, delete_coze_conversation=delete_at_coze)
    report = await rights.erase("t", USER, actor="test")
    assert deleted == ["t/coze-conv-1"]
    assert (report.coze_conversations_deleted, report.coze_conversations_left) == (1, ())


async def test_a_coze_deletion_that_fails_is_reported_and_does_not_stop_the_erasure(
    db: Database, contexts: ContextStore
) -> None:
    await seed(db, contexts)

    async def coze_down(tenant: str, conversation_id: str) -> None:
        raise ConnectionError("coze unreachable")

    report = await SubjectRights(db, contexts, AuditLog(db), KEY, delete_coze_conversation=coze_down).erase(
        "t", USER, actor="test"
    )
    assert report.coze_conversations_left == ("coze-conv-1",)
    assert "PineappleSecretText" not in await everything(db, None, "none:")
