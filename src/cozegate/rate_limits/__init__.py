"""Rate limits: token buckets (memory | Redis) and the chat request limiter built on them."""

from cozegate.rate_limits.buckets import MemoryTokenBuckets, RedisTokenBuckets, TokenBuckets, build_token_buckets
from cozegate.rate_limits.chat import ChatRateLimiter, RateLimitedError

__all__ = [
    "ChatRateLimiter",
    "MemoryTokenBuckets",
    "RateLimitedError",
    "RedisTokenBuckets",
    "TokenBuckets",
    "build_token_buckets",
]
