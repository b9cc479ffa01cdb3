"""The ingress quota protects capacity without taking ingress down: with its buckets unreachable (Redis away)
events are admitted, and the buckets are not asked again for a few seconds."""

from __future__ import annotations

import pytest

from cozegate.rate_limits import IngressQuota, IngressQuotaError, MemoryTokenBuckets
from cozegate.rate_limits.buckets import Bucket


class Unreachable:
    def __init__(self) -> None:
        self.calls = 0

    async def take(self, buckets: list[Bucket]) -> tuple[int, float]:
        self.calls += 1
        raise ConnectionError("redis is away")


async def test_over_the_quota_is_refused_with_a_wait() -> None:
    quota = IngressQuota(MemoryTokenBuckets(), rate=0.5, burst=2)
    await quota.take("t")
    await quota.take("t")
    with pytest.raises(IngressQuotaError) as refused:
        await quota.take("t")
    assert refused.value.retry_after_seconds >= 1
    await quota.take("other")  # each tenant has its own bucket


async def test_unreachable_buckets_admit_events_and_are_spared_a_while() -> None:
    buckets = Unreachable()
    quota = IngressQuota(buckets, rate=0.5, burst=1)
    for _ in range(50):
        await quota.take("t")
    assert buckets.calls == 1
