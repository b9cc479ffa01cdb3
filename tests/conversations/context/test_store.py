"""The context store: compare-and-set versions, no lost update under many writers, and a cache that
never disagrees with the database, on SQLite (in-process cache) and PostgreSQL (Redis cache)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from cozegate.conversations.context import ContextCache, ContextConflictError, ContextStore, Versioned
from cozegate.conversations.context.cache import Entry
from cozegate.storage import Database


async def test_versions_start_at_one_and_count_writes(store: ContextStore) -> None:
    assert await store.conversation("t", "c1") == Versioned({}, 0)
    first = await store.put("t", "conversation", "c1", {"step": 1}, expected_version=0, subject="u1")
    assert first == Versioned({"step": 1}, 1)
    second = await store.put("t", "conversation", "c1", {"step": 2}, expected_version=1)
    assert second.version == 2
    assert await store.conversation("t", "c1") == Versioned({"step": 2}, 2)
    assert await store.conversation("other-tenant", "c1") == Versioned({}, 0)


async def test_of_two_writers_of_one_version_exactly_one_wins(store: ContextStore) -> None:
    await store.put("t", "user", "u1", {"name": "Mei"}, expected_version=0)
    results = await asyncio.gather(
        store.put("t", "user", "u1", {"name": "A"}, expected_version=1),
        store.put("t", "user", "u1", {"name": "B"}, expected_version=1),
        return_exceptions=True,
    )
    wins = [r for r in results if isinstance(r, Versioned)]
    conflicts = [r for r in results if isinstance(r, ContextConflictError)]
    assert len(wins) == 1
    assert len(conflicts) == 1
    assert conflicts[0].retryable
    assert await store.profile("t", "u1") == wins[0]


async def test_creating_twice_is_a_conflict_too(store: ContextStore) -> None:
    await store.put("t", "user", "u2", {}, expected_version=0)
    with pytest.raises(ContextConflictError):
        await store.put("t", "user", "u2", {"x": 1}, expected_version=0)


async def test_many_writers_lose_no_update(db: Database, new_cache: Callable[[], ContextCache]) -> None:
    replicas = [ContextStore(db, new_cache()) for _ in range(4)]  # each with its own cache, as processes

    def increment(data: dict[str, int]) -> dict[str, int]:
        return {"count": data.get("count", 0) + 1}

    async def writer(store: ContextStore) -> None:
        for _ in range(10):
            await store.update("t", "conversation", "hot", increment, attempts=200)

    await asyncio.gather(*(writer(replicas[i % 4]) for i in range(16)))
    for replica in replicas:
        assert await replica.conversation("t", "hot") == Versioned({"count": 160}, 160)


class CrashAfterCommit:
    """A cache whose process dies between the database commit and storing the new version."""

    def __init__(self, inner: ContextCache) -> None:
        self.inner = inner

    async def get(self, key: str) -> tuple[Entry | None, int]:
        return await self.inner.get(key)

    async def fill(self, key: str, entry: Entry, generation: int) -> None:
        await self.inner.fill(key, entry, generation)

    async def mark_writing(self, key: str) -> int:
        return await self.inner.mark_writing(key)

    async def stored(self, key: str, entry: Entry, mark: int) -> None:
        raise SystemExit("killed")

    async def forget(self, key: str, mark: int) -> None:
        raise SystemExit("killed")


async def test_a_crash_between_commit_and_cache_never_serves_the_old_version(
    db: Database, new_cache: Callable[[], ContextCache], backend: object
) -> None:
    shared = new_cache()
    survivor = ContextStore(db, shared)
    await survivor.put("t", "conversation", "c", {"v": 1}, expected_version=0)
    assert (await survivor.conversation("t", "c")).version == 1  # now cached

    doomed = ContextStore(db, CrashAfterCommit(shared))
    with pytest.raises(SystemExit):
        await doomed.put("t", "conversation", "c", {"v": 2}, expected_version=1)

    # the database committed version 2; the cache must not answer with version 1
    assert await survivor.conversation("t", "c") == Versioned({"v": 2}, 2)
    assert await survivor.put("t", "conversation", "c", {"v": 3}, expected_version=2) == Versioned({"v": 3}, 3)
    assert await survivor.conversation("t", "c") == Versioned({"v": 3}, 3)


async def test_a_failed_write_leaves_the_cache_empty_not_stale(store: ContextStore) -> None:
    await store.put("t", "conversation", "c", {"v": 1}, expected_version=0)
    with pytest.raises(ContextConflictError):
        await store.put("t", "conversation", "c", {"v": "lost"}, expected_version=0)
    assert await store.conversation("t", "c") == Versioned({"v": 1}, 1)


async def test_records_about_a_subject_are_found_and_erased(store: ContextStore) -> None:
    await store.put("t", "user", "u9", {"phone": "13812345678"}, expected_version=0)
    await store.put("t", "conversation", "c9", {"cart": ["tea"]}, expected_version=0, subject="u9")
    await store.put("t", "conversation", "c10", {"cart": []}, expected_version=0, subject="someone-else")
    assert {(r["scope"], r["key"]) for r in await store.about("t", "u9")} == {("user", "u9"), ("conversation", "c9")}
    assert await store.erase("t", "u9") == 2
    assert await store.about("t", "u9") == []
    assert await store.profile("t", "u9") == Versioned({}, 0)
    assert (await store.conversation("t", "c10")).version == 1


KEY = "t\x1fconversation\x1fr"


async def a_paused_reader(store: ContextStore, cache: ContextCache) -> tuple[int, Entry]:
    """What a reader holds when it pauses between its database read and its cache fill."""
    _, generation = await cache.get(KEY)
    current = await store.conversation("t", "r")
    return generation, (current.version, json.dumps(current.data, sort_keys=True))


async def test_a_paused_readers_fill_cannot_undo_a_write_behind_a_losing_writer(
    db: Database, new_cache: Callable[[], ContextCache]
) -> None:
    cache = new_cache()
    store = ContextStore(db, cache)
    await store.put("t", "conversation", "r", {"v": 1}, expected_version=0)
    await cache.forget(KEY, (await cache.get(KEY))[1])  # evicted: the next reader goes to the database
    generation, old = await a_paused_reader(store, cache)
    await store.put("t", "conversation", "r", {"v": 2}, expected_version=1)  # the winner
    with pytest.raises(ContextConflictError):
        await store.put("t", "conversation", "r", {"v": "x"}, expected_version=1)  # the loser forgets
    await cache.fill(KEY, old, generation)  # the reader wakes up
    assert await store.conversation("t", "r") == Versioned({"v": 2}, 2)


async def test_a_paused_readers_fill_cannot_bring_back_a_deleted_record(
    db: Database, new_cache: Callable[[], ContextCache]
) -> None:
    cache = new_cache()
    store = ContextStore(db, cache)
    await store.put("t", "conversation", "r", {"phone": "13812345678"}, expected_version=0)
    await cache.forget(KEY, (await cache.get(KEY))[1])
    generation, old = await a_paused_reader(store, cache)
    assert await store.delete("t", "conversation", "r")
    await cache.fill(KEY, old, generation)
    assert await store.conversation("t", "r") == Versioned({}, 0)


class CommitThenCancelled:
    """A database whose write commits, then the caller is cancelled before it hears so."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def write(self, work: Any) -> Any:
        await self.db.write(work)
        raise asyncio.CancelledError

    async def read(self, work: Any) -> Any:
        return await self.db.read(work)


async def test_a_write_cancelled_after_its_commit_leaves_readers_on_the_database(
    db: Database, new_cache: Callable[[], ContextCache]
) -> None:
    cache = new_cache()
    store = ContextStore(db, cache)
    await store.put("t", "conversation", "r", {"v": 1}, expected_version=0)
    cancelled = ContextStore(CommitThenCancelled(db), cache)  # type: ignore[arg-type]
    with pytest.raises(asyncio.CancelledError):
        await cancelled.put("t", "conversation", "r", {"v": 2}, expected_version=1)
    assert await store.conversation("t", "r") == Versioned({"v": 2}, 2)
