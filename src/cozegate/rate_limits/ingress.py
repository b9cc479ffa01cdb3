"""Webhook ingress quotas: a token of the tenant's bucket per verified event (the tenant's own rate where it
has one), so that one tenant cannot fill the shared inbox for everyone; 429 with ``Retry-After`` when short.

The quota protects capacity; it must not take ingress down with it: when the buckets cannot be reached
(Redis away), events are admitted and the buckets are not asked again for a few seconds."""

from __future__ import annotations

import logging
import math
import time

from cozegate.rate_limits.buckets import TokenBuckets

log = logging.getLogger(__name__)
PAUSE_AFTER_FAILURE = 5.0  # seconds the quota admits everything after its buckets failed


class IngressQuotaError(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"this tenant sends more webhook events than its quota; retry in {retry_after:.1f} s")
        self.retry_after_seconds = max(1, math.ceil(retry_after))


class IngressQuota:
    def __init__(self, buckets: TokenBuckets, *, rate: float, burst: float) -> None:
        self._buckets = buckets
        self._rate = rate
        self._burst = burst
        self._paused_until = 0.0

    async def take(self, tenant: str, rate: float | None = None, burst: float | None = None) -> None:
        """Take one token of the tenant's bucket, or raise ``IngressQuotaError``."""
        if self._paused_until and time.monotonic() < self._paused_until:
            return
        try:
            short, wait = await self._buckets.take([(f"i\x1f{tenant}", rate or self._rate, burst or self._burst)])
        except Exception as exc:
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
            log.warning("ingress quota unavailable (%s): admitting events for %.0f s", exc.__class__.__name__,
                        PAUSE_AFTER_FAILURE)  # fmt: skip
            return
        self._paused_until = 0.0
        if short >= 0:
            raise IngressQuotaError(wait)
