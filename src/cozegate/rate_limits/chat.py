"""Chat request limits: a token of the user's and of the tenant's bucket per request (the tenant's own
limits where it has them, the process's otherwise); 429 with ``Retry-After`` when either is short."""

from __future__ import annotations

import math
from typing import Protocol

from cozegate.rate_limits.buckets import TokenBuckets


class TenantLimits(Protocol):
    @property
    def tenant_rate(self) -> float | None: ...
    @property
    def tenant_burst(self) -> float | None: ...
    @property
    def user_rate(self) -> float | None: ...
    @property
    def user_burst(self) -> float | None: ...


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
        buckets = [(f"u\x1f{tenant}\x1f{user}", user_rate, user_burst), (f"t\x1f{tenant}", tenant_rate, tenant_burst)]
        short, wait = await self._buckets.take(buckets)  # both or neither: a refusal costs no token
        if short >= 0:
            raise RateLimitedError(("user", "tenant")[short], wait)
