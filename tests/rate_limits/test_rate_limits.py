"""Token buckets: refill arithmetic (in-process, on a fake clock), and one Redis bucket shared by replicas."""

from __future__ import annotations

import secrets

import pytest
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st

from cozegate.rate_limits import ChatRateLimiter, MemoryTokenBuckets, RateLimitedError, RedisTokenBuckets
from tests.conftest import REDIS_URL, Backend


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_bucket_grants_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    buckets = MemoryTokenBuckets(clock)
    one = [("k", 2.0, 3.0)]
    assert [await buckets.take(one) for _ in range(3)] == [(-1, 0.0)] * 3
    short, wait = await buckets.take(one)
    assert (short, wait) == (0, pytest.approx(0.5))  # one token takes 1/rate seconds
    clock.now += 0.5
    assert await buckets.take(one) == (-1, 0.0)
    clock.now += 100  # refills only up to the burst
    assert [(await buckets.take(one))[0] for _ in range(4)] == [-1, -1, -1, 0]


async def test_a_refusal_takes_no_token_from_any_bucket() -> None:
    clock = Clock()
    buckets = MemoryTokenBuckets(clock)
    user, tenant = ("u", 1.0, 5.0), ("t", 1.0, 1.0)
    assert (await buckets.take([user, tenant]))[0] == -1
    assert [(await buckets.take([user, tenant]))[0] for _ in range(3)] == [1, 1, 1]  # the tenant is full
    assert (await buckets.take([user]))[0] == -1
    assert [(await buckets.take([user]))[0] for _ in range(3)] == [-1, -1, -1]  # the user still had 4 left


@given(steps=st.lists(st.floats(min_value=0, max_value=2), max_size=60))
async def test_grants_never_exceed_burst_plus_refill(steps: list[float]) -> None:
    clock = Clock()
    buckets = MemoryTokenBuckets(clock)
    granted = 0
    for gap in steps:
        clock.now += gap
        granted += (await buckets.take([("k", 1.0, 2.0)]))[0] == -1
    assert granted <= 2 + sum(steps) + 1e-9


async def test_replicas_share_one_redis_bucket(backend: Backend) -> None:
    if backend.is_sqlite:
        pytest.skip("embedded mode has no Redis")
    prefix = backend.env["COZEGATE_REDIS_PREFIX"] + secrets.token_hex(4) + ":"
    clients = [aioredis.Redis.from_url(REDIS_URL) for _ in range(2)]
    try:
        replicas = [
            ChatRateLimiter(
                RedisTokenBuckets(c, prefix), tenant_rate=100, tenant_burst=100, user_rate=0.01, user_burst=3
            )
            for c in clients
        ]
        outcomes = []
        for i in range(6):
            try:
                await replicas[i % 2].check("t", "mei")
                outcomes.append("ok")
            except RateLimitedError as exc:
                outcomes.append(f"429/{exc.scope}")
        assert outcomes == ["ok", "ok", "ok", "429/user", "429/user", "429/user"]
        tenant_full = ChatRateLimiter(
            RedisTokenBuckets(clients[0], prefix + "t:"), tenant_rate=0.01, tenant_burst=1, user_rate=0.01, user_burst=5
        )
        await tenant_full.check("t", "omar")
        for _ in range(3):
            with pytest.raises(RateLimitedError, match="tenant"):
                await tenant_full.check("t", "omar")
        # the three refusals took nothing from omar's own bucket (4 tokens left there)
    finally:
        for c in clients:
            await c.aclose()


async def test_memory_buckets_forget_the_least_recently_used_keys() -> None:
    from cozegate.rate_limits import MemoryTokenBuckets

    buckets = MemoryTokenBuckets(clock=lambda: 0.0, max_keys=2)
    assert await buckets.take([("a", 1.0, 1.0)]) == (-1, 0.0)
    assert (await buckets.take([("a", 1.0, 1.0)]))[0] == 0  # a is empty (the clock stands still)
    await buckets.take([("b", 1.0, 1.0)])
    await buckets.take([("c", 1.0, 1.0)])  # a, the least recently used, is forgotten: memory stays bounded
    assert await buckets.take([("a", 1.0, 1.0)]) == (-1, 0.0)
