"""Token buckets: in-process when embedded, in Redis when configured (one bucket shared by every replica,
refilled by Redis's own clock). ``take`` takes a token from every named bucket or from none, so a
refusal costs nothing."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
from cachetools import LRUCache

Bucket = tuple[str, float, float]  # key, rate (tokens per second), burst


class TokenBuckets(Protocol):
    async def take(self, buckets: list[Bucket]) -> tuple[int, float]:
        """Take one token from every bucket, or from none: (-1, 0.0) when granted, else the index of the
        first bucket that is short and the seconds until it has a token."""


class MemoryTokenBuckets:
    """In-process buckets. Keys come from callers (users, client addresses): the least recently used are
    forgotten beyond ``max_keys`` (a forgotten bucket is full again, as an idle one would be)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._buckets: LRUCache[str, tuple[float, float]] = LRUCache(maxsize=max_keys)  # key -> (tokens, at)
        self._clock = clock

    async def take(self, buckets: list[Bucket]) -> tuple[int, float]:
        now = self._clock()
        levels = []
        for key, rate, burst in buckets:
            tokens, at = self._buckets.get(key, (burst, now))
            levels.append(min(burst, tokens + (now - at) * rate))
        short = next((i for i, level in enumerate(levels) if level < 1.0), -1)
        for (key, _, _), level in zip(buckets, levels, strict=True):
            self._buckets[key] = (level - 1.0 if short < 0 else level, now)
        if short < 0:
            return -1, 0.0
        return short, (1.0 - levels[short]) / buckets[short][1]


_TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local levels = {}
local short = -1
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now
  levels[i] = math.min(burst, tokens + math.max(0, now - at) * rate)
  if short < 0 and levels[i] < 1 then short = i end
end
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local level = levels[i]
  if short < 0 then level = level - 1 end
  redis.call('HSET', key, 'tokens', tostring(level), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
if short < 0 then return {-1, '0'} end
local rate = tonumber(ARGV[2 * short - 1])
return {short - 1, tostring((1 - levels[short]) / rate)}
"""


class RedisTokenBuckets:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._prefix = f"{prefix}rate:"
        self._take = client.register_script(_TAKE)

    async def take(self, buckets: list[Bucket]) -> tuple[int, float]:
        keys = [self._prefix + hashlib.sha256(key.encode()).hexdigest()[:32] for key, _, _ in buckets]  # no ids
        args = [value for _, rate, burst in buckets for value in (rate, burst)]
        short, wait = await self._take(keys=keys, args=args)
        return int(short), float(wait)


def build_token_buckets(redis: aioredis.Redis | None, prefix: str) -> TokenBuckets:
    """Redis buckets when the process has Redis (every replica shares them), in-process ones otherwise."""
    return RedisTokenBuckets(redis, prefix) if redis is not None else MemoryTokenBuckets()
