"""Which Coze failures are worth another attempt, and how long to wait before it."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx
from cozepy import CozeAPIError, CozeInvalidEventError

from cozegate.coze.errors import RATE_LIMIT_CODES, RETRYABLE_CODES


@dataclass(frozen=True, slots=True)
class Failure:
    retryable: bool
    rate_limited: bool
    code: int | None
    logid: str | None
    message: str
    sent: bool = True  # the request may have reached Coze (and a create may have taken effect)


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)  # no byte of the request left


def classify(exc: BaseException) -> Failure:
    """What a failed call means. An error answer from Coze is a refusal (nothing was created); a broken
    connection after the request went out is ``sent``: Coze may have acted on it."""
    if isinstance(exc, CozeAPIError):
        code = exc.code
        # cozepy reports a non-JSON error body with the HTTP status as the code (502, 503, ...).
        server_error = code is not None and 500 <= code < 600
        return Failure(
            retryable=code in RETRYABLE_CODES or server_error,
            rate_limited=code in RATE_LIMIT_CODES or code == 429,
            code=code,
            logid=exc.logid,
            message=exc.msg or str(exc),
            sent=server_error,  # a proxy's 502/504 page: Coze behind it may have acted on the request
        )
    if isinstance(exc, CozeInvalidEventError):
        return Failure(True, False, None, exc.logid or None, f"invalid stream event: {exc}")
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return Failure(status >= 500 or status == 429, status == 429, status, None, f"HTTP {status}", sent=False)
    if isinstance(exc, (httpx.TransportError, TimeoutError)):
        message = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        return Failure(True, False, None, None, message, sent=not isinstance(exc, _NOT_SENT))
    return Failure(False, False, None, None, f"{exc.__class__.__name__}: {exc}")


@dataclass(frozen=True, slots=True)
class CozeRetryPolicy:
    max_attempts: int = 4
    base_seconds: float = 0.5
    max_seconds: float = 20.0
    rate_limit_floor_seconds: float = 1.0

    def delay(self, attempt: int, failure: Failure, rng: random.Random | None = None) -> float:
        """Full-jitter exponential backoff; a rate limit waits at least ``rate_limit_floor_seconds``."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1))
        delay = (rng or random).uniform(0, ceiling)
        if failure.rate_limited:
            delay = max(delay, min(self.max_seconds, self.rate_limit_floor_seconds * 2 ** (attempt - 1)))
        return delay
