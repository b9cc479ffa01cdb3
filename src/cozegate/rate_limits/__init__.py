"""Rate limits: token buckets (memory | Redis), and the chat limiter and ingress quota built on them."""

from cozegate.rate_limits.buckets import MemoryTokenBuckets, RedisTokenBuckets, TokenBuckets, build_token_buckets
from cozegate.rate_limits.chat import ChatRateLimiter, RateLimitedError
from cozegate.rate_limits.ingress import IngressQuota, IngressQuotaError

__all__ = [
    "ChatRateLimiter",
    "IngressQuota",
    "IngressQuotaError",
    "MemoryTokenBuckets",
    "RateLimitedError",
    "RedisTokenBuckets",
    "TokenBuckets",
    "build_token_buckets",
]
