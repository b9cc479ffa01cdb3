"""The fast-path dedup caches (in-process and real Redis) and the fallback when Redis is down."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from cozegate.inbox import Inbox, InboxStore, NewEvent, SubmitOutcome
from cozegate.inbox.fast_dedup import FastDedup, MemoryFastDedup, RedisFastDedup
from tests.conftest import Backend


def cache_for(backend: Backend) -> tuple[FastDedup, aioredis.Redis | None]:
    if backend.is_sqlite:
        return MemoryFastDedup(capacity=3), None
    client = aioredis.Redis.from_url(backend.env["COZEGATE_REDIS_URL"])
    return RedisFastDedup(client, backend.env["COZEGATE_REDIS_PREFIX"], ttl_seconds=60), client


async def test_remembered_keys_are_seen(backend: Backend) -> None:
    cache, client = cache_for(backend)
    try:
        assert await cache.seen_many([("t", "a")]) == [False]
        await cache.remember([("t", "a"), ("t", "b")])
        assert await cache.seen_many([("t", "a"), ("u", "a"), ("t", "b")]) == [True, False, True], "keys are per tenant"
        assert await cache.seen_many([]) == []
        if client is not None:
            ttl = await client.ttl(backend.env["COZEGATE_REDIS_PREFIX"] + "dedup:t:a")
            assert 0 < ttl <= 60
    finally:
        if client is not None:
            await client.aclose()


async def test_memory_cache_is_bounded() -> None:
    cache = MemoryFastDedup(capacity=2)
    await cache.remember([("t", "1"), ("t", "2"), ("t", "3")])
    assert await cache.seen_many([("t", "1"), ("t", "3")]) == [False, True]


async def test_duplicates_are_answered_from_the_cache_after_commit(store: InboxStore, backend: Backend) -> None:
    cache, client = cache_for(backend)
    inbox = Inbox(store, cache, max_depth=100, max_backlog=100, batch_size=8)
    await inbox.start()
    try:
        event = NewEvent("t", "k", "x", "{}", "r", time.time())
        assert await inbox.submit(event) == SubmitOutcome.ACCEPTED
        assert await cache.seen_many([("t", "k")]) == [True]
        # answered by the cache: even with the row gone from the database it stays a duplicate
        await store.db.write(lambda conn: conn.exec_driver_sql("DELETE FROM inbox_events"))
        assert await inbox.submit(event) == SubmitOutcome.DUPLICATE
    finally:
        await inbox.stop()
        if client is not None:
            await client.aclose()


async def test_an_unreachable_redis_never_blocks_ingestion(store: InboxStore) -> None:
    dead_redis = aioredis.Redis(host="127.0.0.1", port=1)
    cache = RedisFastDedup(dead_redis, "x:", cooldown_seconds=3600)
    inbox = Inbox(store, cache, max_depth=100, max_backlog=100, batch_size=8)
    await inbox.start()
    try:
        event = NewEvent("t", "k", "x", "{}", "r", time.time())
        assert await inbox.submit(event) == SubmitOutcome.ACCEPTED
        assert not cache.available, "the first failure opens the circuit"
        assert await inbox.submit(event) == SubmitOutcome.DUPLICATE, "the database still deduplicates"
    finally:
        await inbox.stop()
        await dead_redis.aclose()
