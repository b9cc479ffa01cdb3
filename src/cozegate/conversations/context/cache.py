"""The hot cache in front of the context store: in-process (embedded) or Redis (distributed).

The database is the truth; the cache only ever holds a version the database committed. A writer
first marks the key as *being written* (readers then go to the database and do not fill the cache),
commits, then stores the new version; a fill or store never replaces a newer version. A writer that
dies midway leaves only the mark, which expires, so a crash cannot leave the cache disagreeing.
"""

from __future__ import annotations

import json
import time
from typing import Protocol

import redis.asyncio as aioredis
from cachetools import TTLCache

Entry = tuple[int, str]  # (version, data as JSON text)
WRITING_MARK_SECONDS = 30.0


class ContextCache(Protocol):
    async def get(self, key: str) -> Entry | None:
        """The cached entry; None on a miss or while the key is being written."""

    async def fill(self, key: str, entry: Entry) -> None:
        """After a database read: store unless the key is being written or holds a newer version."""

    async def mark_writing(self, key: str) -> None: ...

    async def stored(self, key: str, entry: Entry) -> None:
        """After a commit: replace the mark or an older version."""

    async def forget(self, key: str) -> None: ...


class MemoryContextCache:
    """Embedded: an LRU bounded by ``capacity`` whose entries expire after ``ttl_seconds``."""

    def __init__(self, ttl_seconds: float, capacity: int = 50_000) -> None:
        self._entries: TTLCache[str, Entry | None] = TTLCache(capacity, ttl_seconds, timer=time.monotonic)
        self._writing: TTLCache[str, bool] = TTLCache(capacity, WRITING_MARK_SECONDS, timer=time.monotonic)

    async def get(self, key: str) -> Entry | None:
        if key in self._writing:
            return None
        return self._entries.get(key)

    async def fill(self, key: str, entry: Entry) -> None:
        current = self._entries.get(key)
        if key not in self._writing and (current is None or current[0] < entry[0]):
            self._entries[key] = entry

    async def mark_writing(self, key: str) -> None:
        self._writing[key] = True

    async def stored(self, key: str, entry: Entry) -> None:
        self._writing.pop(key, None)
        current = self._entries.get(key)
        if current is None or current[0] < entry[0]:
            self._entries[key] = entry

    async def forget(self, key: str) -> None:
        self._writing.pop(key, None)
        self._entries.pop(key, None)


_STORE = """
local current = redis.call('GET', KEYS[1])
if current and current ~= '!' and cjson.decode(current)[1] >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""


class RedisContextCache:
    """Distributed: one cache for every replica; entries are ``[version, data]`` JSON, the mark is ``!``."""

    def __init__(self, client: aioredis.Redis, prefix: str, ttl_seconds: float) -> None:
        self._client = client
        self._prefix = f"{prefix}ctx:"
        self._ttl = int(ttl_seconds)
        self._store = client.register_script(_STORE)

    async def get(self, key: str) -> Entry | None:
        raw = await self._client.get(self._prefix + key)
        if raw is None or raw == b"!":
            return None
        version, data = json.loads(raw)
        return int(version), str(data)

    async def fill(self, key: str, entry: Entry) -> None:
        # only into an empty slot: a mark or any entry (which a reader would have used) stays
        await self._client.set(self._prefix + key, json.dumps(list(entry)), nx=True, ex=self._ttl)

    async def mark_writing(self, key: str) -> None:
        await self._client.set(self._prefix + key, "!", ex=int(WRITING_MARK_SECONDS))

    async def stored(self, key: str, entry: Entry) -> None:
        await self._store(keys=[self._prefix + key], args=[json.dumps(list(entry)), entry[0], self._ttl])

    async def forget(self, key: str) -> None:
        await self._client.delete(self._prefix + key)
