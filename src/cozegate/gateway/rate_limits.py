"""Token buckets for the chat proxy: per tenant and per user; in-process embedded, Redis when configured
(one bucket shared by every replica, refilled by Redis's own clock)."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis


class TenantLimits(Protocol):
    @property
    def tenant_rate(self) -> float | None: ...
    @property
    def tenant_burst(self) -> float | None: ...
    @property
    def user_rate(self) -> float | None: ...
    @property
    def user_burst(self) -> float | None: ...


class TokenBuckets(Protocol):
    async def take(self, key: str, rate: float, burst: float) -> float:
        """Take one token: 0.0 if granted, else the seconds until one is available."""


class MemoryTokenBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._clock = clock

    async def take(self, key: str, rate: float, burst: float) -> float:
        now = self._clock()
        tokens, at = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate


_TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisTokenBuckets:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._prefix = f"{prefix}rate:"
        self._take = client.register_script(_TAKE)

    async def take(self, key: str, rate: float, burst: float) -> float:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]  # no user id in a key name
        return float(await self._take(keys=[self._prefix + digest], args=[rate, burst]))


class RateLimitedError(Exception):
    def __init__(self, scope: str, retry_after: float) -> None:
        super().__init__(f"too many chat requests for this {scope}; retry in {retry_after:.1f} s")
        self.scope = scope
        self.retry_after_seconds = max(1, math.ceil(retry_after))


class ChatRateLimiter:
    def __init__(
        self, buckets: TokenBuckets, *, tenant_rate: float, tenant_burst: float, user_rate: float, user_burst: float
    ) -> None:
        self._buckets = buckets
        self._tenant = (tenant_rate, tenant_burst)
        self._user = (user_rate, user_burst)

    async def check(self, tenant: str, user: str, limits: TenantLimits | None = None) -> None:
        """Take a token of the user's and of the tenant's bucket (the tenant's own limits where it has them)."""
        user_rate, user_burst = self._user
        tenant_rate, tenant_burst = self._tenant
        if limits is not None:
            user_rate, user_burst = limits.user_rate or user_rate, limits.user_burst or user_burst
            tenant_rate, tenant_burst = limits.tenant_rate or tenant_rate, limits.tenant_burst or tenant_burst
        wait = await self._buckets.take(f"u\x1f{tenant}\x1f{user}", user_rate, user_burst)
        if wait > 0:
            raise RateLimitedError("user", wait)
        wait = await self._buckets.take(f"t\x1f{tenant}", tenant_rate, tenant_burst)
        if wait > 0:
            raise RateLimitedError("tenant", wait)
