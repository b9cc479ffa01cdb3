"""Webhook ingress quotas: a token of the tenant's bucket per verified event (the tenant's own rate where it
has one), so that one tenant cannot fill the shared inbox for everyone; 429 with ``Retry-After`` when short."""

from __future__ import annotations

import math

from cozegate.rate_limits.buckets import TokenBuckets


class IngressQuotaError(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"this tenant sends more webhook events than its quota; retry in {retry_after:.1f} s")
        self.retry_after_seconds = max(1, math.ceil(retry_after))


class IngressQuota:
    def __init__(self, buckets: TokenBuckets, *, rate: float, burst: float) -> None:
        self._buckets = buckets
        self._rate = rate
        self._burst = burst

    async def take(self, tenant: str, rate: float | None = None, burst: float | None = None) -> None:
        """Take one token of the tenant's bucket, or raise ``IngressQuotaError``."""
        short, wait = await self._buckets.take([(f"i\x1f{tenant}", rate or self._rate, burst or self._burst)])
        if short >= 0:
            raise IngressQuotaError(wait)
