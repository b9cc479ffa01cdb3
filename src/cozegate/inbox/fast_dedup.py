"""Fast-path duplicate detection in front of the database.

Only ever a shortcut: a key is remembered *after* its event is committed, and a miss always goes on
to the database, whose unique constraint is the record of truth.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import redis.asyncio as aioredis


class FastDedup(Protocol):
    async def seen_many(self, keys: Sequence[tuple[str, str]]) -> list[bool]: ...

    async def remember(self, keys: Iterable[tuple[str, str]]) -> None: ...


class MemoryFastDedup:
    """Embedded: a bounded LRU of recently committed keys.

    Keys are flat strings, not tuples: strings are invisible to the cyclic garbage collector, so a
    full cache does not lengthen collections.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    async def seen_many(self, keys: Sequence[tuple[str, str]]) -> list[bool]:
        return [f"{tenant}\x00{key}" in self._keys for tenant, key in keys]

    async def remember(self, keys: Iterable[tuple[str, str]]) -> None:
        for tenant, key in keys:
            flat = f"{tenant}\x00{key}"
            self._keys[flat] = None
            self._keys.move_to_end(flat)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)


class RedisFastDedup:
    """Distributed: shared by every replica, keys expire after ``ttl_seconds``.

    Every call is bounded by ``timeout_seconds``; after a failure Redis is skipped for
    ``cooldown_seconds`` (a miss goes to the database anyway), so an outage costs one timeout, not
    one per request.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        ttl_seconds: int = 7 * 24 * 3600,
        *,
        timeout_seconds: float = 0.5,
        cooldown_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._prefix = prefix + "dedup:"
        self._ttl = ttl_seconds
        self._timeout = timeout_seconds
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._skip_until = 0.0

    def _key(self, tenant: str, key: str) -> str:
        return f"{self._prefix}{tenant}:{key}"

    @property
    def available(self) -> bool:
        return self._clock() >= self._skip_until

    def _trip(self) -> None:
        self._skip_until = self._clock() + self._cooldown

    async def seen_many(self, keys: Sequence[tuple[str, str]]) -> list[bool]:
        """One ``MGET`` for a whole group commit."""
        if not self.available or not keys:
            return [False] * len(keys)
        try:
            async with asyncio.timeout(self._timeout):
                values = await self._client.mget([self._key(tenant, key) for tenant, key in keys])
                return [v is not None for v in values]
        except BaseException:
            self._trip()
            raise

    async def remember(self, keys: Iterable[tuple[str, str]]) -> None:
        if not self.available:
            return
        pipe = self._client.pipeline(transaction=False)
        for tenant, key in keys:
            pipe.set(self._key(tenant, key), b"1", ex=self._ttl)
        try:
            async with asyncio.timeout(self._timeout):
                await pipe.execute()
        except BaseException:
            self._trip()
            raise
