"""Fast-path duplicate detection in front of the database.

Only ever a shortcut: a key is remembered *after* its event is committed, and a miss always goes on
to the database, whose unique constraint is the record of truth.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Protocol

import redis.asyncio as aioredis


class FastDedup(Protocol):
    async def seen(self, tenant: str, key: str) -> bool: ...

    async def remember(self, keys: Iterable[tuple[str, str]]) -> None: ...


class MemoryFastDedup:
    """Embedded: a bounded LRU of recently committed keys."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._keys: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._capacity = capacity

    async def seen(self, tenant: str, key: str) -> bool:
        return (tenant, key) in self._keys

    async def remember(self, keys: Iterable[tuple[str, str]]) -> None:
        for k in keys:
            self._keys[k] = None
            self._keys.move_to_end(k)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)


class RedisFastDedup:
    """Distributed: shared by every replica, keys expire after ``ttl_seconds``."""

    def __init__(self, client: aioredis.Redis, prefix: str, ttl_seconds: int = 7 * 24 * 3600) -> None:
        self._client = client
        self._prefix = prefix + "dedup:"
        self._ttl = ttl_seconds

    def _key(self, tenant: str, key: str) -> str:
        return f"{self._prefix}{tenant}:{key}"

    async def seen(self, tenant: str, key: str) -> bool:
        return bool(await self._client.exists(self._key(tenant, key)))

    async def remember(self, keys: Iterable[tuple[str, str]]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for tenant, key in keys:
            pipe.set(self._key(tenant, key), b"1", ex=self._ttl)
        await pipe.execute()
