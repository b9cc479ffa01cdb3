"""The hot cache in front of the context store: in-process (embedded), Redis (distributed), or none.

The database is the truth; the cache must never answer with a version older than it. Every key has a
*generation* that every mark, store and forget increases. A reader notes the generation before it
reads the database and fills the cache only if the generation is still the same afterwards, so a fill
can never undo a write that happened while the reader was busy. A writer first marks the key as
*being written* (readers bypass the cache and do not fill it) and gets the generation of its mark;
after its commit it stores the new version, and after a conflict it drops its mark, both only if
nobody else marked the key since (otherwise their mark stands). A writer that dies or is cancelled
midway leaves its mark, which expires after ``WRITING_MARK_SECONDS`` (longer than any transaction),
so a crash cannot leave the cache behind the database.

Redis keys are hashes of (tenant, scope, key): no user or conversation id appears in a key name.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Protocol

import redis.asyncio as aioredis
from cachetools import TTLCache

from cozegate.settings import Settings

Entry = tuple[int, str]  # (version, data as JSON text)
WRITING_MARK_SECONDS = 30.0


class ContextCache(Protocol):
    async def get(self, key: str) -> tuple[Entry | None, int]:
        """The cached entry (None on a miss or while the key is being written) and the key's generation."""

    async def fill(self, key: str, entry: Entry, generation: int) -> None:
        """After a database read: store only if nothing was marked, stored or forgotten since ``generation``."""

    async def mark_writing(self, key: str) -> int:
        """Before a write: mark the key; returns the generation of this mark."""

    async def stored(self, key: str, entry: Entry, mark: int) -> None:
        """After the commit: replace our mark with ``entry`` unless someone marked the key since."""

    async def forget(self, key: str, mark: int) -> None:
        """After a conflict or a delete: drop our mark and the entry unless someone marked the key since."""


class NoContextCache:
    """Every read goes to the database (a database shared by replicas without Redis)."""

    async def get(self, key: str) -> tuple[Entry | None, int]:
        return None, 0

    async def fill(self, key: str, entry: Entry, generation: int) -> None:
        return None

    async def mark_writing(self, key: str) -> int:
        return 0

    async def stored(self, key: str, entry: Entry, mark: int) -> None:
        return None

    async def forget(self, key: str, mark: int) -> None:
        return None


class MemoryContextCache:
    """Embedded (one process): an LRU bounded by ``capacity`` whose entries expire after ``ttl_seconds``."""

    def __init__(self, ttl_seconds: float, capacity: int = 50_000) -> None:
        self._entries: TTLCache[str, Entry] = TTLCache(capacity, ttl_seconds, timer=time.monotonic)
        self._writing: TTLCache[str, bool] = TTLCache(capacity, WRITING_MARK_SECONDS, timer=time.monotonic)
        self._generations: TTLCache[str, int] = TTLCache(capacity * 2, ttl_seconds, timer=time.monotonic)

    def _bump(self, key: str) -> int:
        generation = self._generations.get(key, 0) + 1
        self._generations[key] = generation
        return generation

    async def get(self, key: str) -> tuple[Entry | None, int]:
        generation = self._generations.get(key, 0)
        if key in self._writing:
            return None, generation
        return self._entries.get(key), generation

    async def fill(self, key: str, entry: Entry, generation: int) -> None:
        if key not in self._writing and key not in self._entries and self._generations.get(key, 0) == generation:
            self._entries[key] = entry

    async def mark_writing(self, key: str) -> int:
        self._writing[key] = True
        return self._bump(key)

    async def stored(self, key: str, entry: Entry, mark: int) -> None:
        if self._generations.get(key, 0) == mark:
            self._writing.pop(key, None)
            self._entries[key] = entry
        self._bump(key)

    async def forget(self, key: str, mark: int) -> None:
        if self._generations.get(key, 0) == mark:
            self._writing.pop(key, None)
            self._entries.pop(key, None)
        self._bump(key)


# KEYS[1] entry, KEYS[2] generation
_GET = """
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}
"""
_FILL = """
if (tonumber(redis.call('GET', KEYS[2])) or 0) ~= tonumber(ARGV[2]) then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""
_MARK = """
local generation = redis.call('INCR', KEYS[2]); redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], '!', 'EX', ARGV[1])
return generation
"""
_STORE = """
if (tonumber(redis.call('GET', KEYS[2])) or 0) == tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
end
redis.call('INCR', KEYS[2]); redis.call('EXPIRE', KEYS[2], ARGV[3])
"""
_FORGET = """
if (tonumber(redis.call('GET', KEYS[2])) or 0) == tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) end
redis.call('INCR', KEYS[2]); redis.call('EXPIRE', KEYS[2], ARGV[2])
"""


class RedisContextCache:
    """Distributed: one cache for every replica; entries are ``[version, data]`` JSON, the mark is ``!``."""

    def __init__(self, client: aioredis.Redis, prefix: str, ttl_seconds: float) -> None:
        self._prefix = f"{prefix}ctx:"
        self._ttl = int(ttl_seconds)
        self._get = client.register_script(_GET)
        self._fill = client.register_script(_FILL)
        self._mark = client.register_script(_MARK)
        self._store = client.register_script(_STORE)
        self._forget = client.register_script(_FORGET)

    def _keys(self, key: str) -> list[str]:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return [f"{self._prefix}{digest}", f"{self._prefix}{digest}:gen"]

    async def get(self, key: str) -> tuple[Entry | None, int]:
        raw, generation = await self._get(keys=self._keys(key))
        if raw is None or raw == b"!":
            return None, int(generation or 0)
        version, data = json.loads(raw)
        return (int(version), str(data)), int(generation or 0)

    async def fill(self, key: str, entry: Entry, generation: int) -> None:
        await self._fill(keys=self._keys(key), args=[json.dumps(list(entry)), generation, self._ttl])

    async def mark_writing(self, key: str) -> int:
        return int(await self._mark(keys=self._keys(key), args=[int(WRITING_MARK_SECONDS), self._ttl]))

    async def stored(self, key: str, entry: Entry, mark: int) -> None:
        await self._store(keys=self._keys(key), args=[json.dumps(list(entry)), mark, self._ttl])

    async def forget(self, key: str, mark: int) -> None:
        await self._forget(keys=self._keys(key), args=[mark, self._ttl])


def build_context_cache(settings: Settings, redis: aioredis.Redis | None) -> ContextCache:
    """Redis when configured; in-process when embedded; none when replicas share a database without Redis
    (an in-process cache per replica would serve each other's old versions)."""
    if redis is not None:
        return RedisContextCache(redis, settings.redis_prefix, settings.context_cache_ttl_seconds)
    if settings.is_sqlite:
        return MemoryContextCache(settings.context_cache_ttl_seconds)
    return NoContextCache()
