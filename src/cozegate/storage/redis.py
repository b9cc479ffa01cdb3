"""The Redis connection (distributed mode only)."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from cozegate.settings import Settings


def create_redis(settings: Settings) -> aioredis.Redis | None:
    if not settings.redis_url:
        return None
    return aioredis.Redis.from_url(
        settings.redis_url,
        decode_responses=False,
        health_check_interval=30,
        socket_connect_timeout=1.0,
        socket_timeout=1.0,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
    )
