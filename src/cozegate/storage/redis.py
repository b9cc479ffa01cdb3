"""The Redis connection (distributed mode only)."""

from __future__ import annotations

import redis.asyncio as aioredis

from cozegate.settings import Settings


def create_redis(settings: Settings) -> aioredis.Redis | None:
    if not settings.redis_url:
        return None
    return aioredis.Redis.from_url(settings.redis_url, decode_responses=False, health_check_interval=30)
