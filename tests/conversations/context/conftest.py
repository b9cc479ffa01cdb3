from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from cozegate.conversations.context import ContextCache, ContextStore, MemoryContextCache, RedisContextCache
from cozegate.storage import Database
from tests.conftest import REDIS_URL, Backend

TTL = 7 * 24 * 3600


@pytest.fixture
async def new_cache(backend: Backend) -> AsyncIterator[Callable[[], ContextCache]]:
    """Caches as replicas have them: embedded is one process with one in-process cache (every call returns
    it); distributed replicas each have a client of the one shared Redis."""
    clients: list[aioredis.Redis] = []
    in_process = MemoryContextCache(TTL)

    def make() -> ContextCache:
        if backend.is_sqlite:
            return in_process
        client = aioredis.Redis.from_url(REDIS_URL)
        clients.append(client)
        return RedisContextCache(client, backend.env["COZEGATE_REDIS_PREFIX"], TTL)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def store(db: Database, new_cache: Callable[[], ContextCache]) -> ContextStore:
    return ContextStore(db, new_cache())
