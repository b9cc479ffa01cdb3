"""What a failed Coze call looks like to the rest of cozegate."""

from __future__ import annotations

# Coze body codes worth another attempt: rate limits (system limit, RPM peak) and internal errors.
RATE_LIMIT_CODES = frozenset({4009, 4020})
CONVERSATION_BUSY = 4016  # the conversation has a running chat: it ends, or is cancelled, soon
RETRYABLE_CODES = RATE_LIMIT_CODES | {5000, CONVERSATION_BUSY}
# 4008 (daily usage limit) is a rate limit too, but retrying today will not help.


class CozeCallError(Exception):
    """A Coze call that failed for good (after its retries). Carries Coze's code and log id."""

    def __init__(
        self,
        endpoint: str,
        message: str,
        *,
        code: int | None = None,
        logid: str | None = None,
        retryable: bool = False,
        attempts: int = 1,
        sent: bool = False,
    ) -> None:
        details = [f"coze {endpoint} failed"]
        if code is not None:
            details.append(f"code {code}")
        details.append(message)
        if logid:
            details.append(f"logid {logid}")
        details.append(f"after {attempts} attempt{'s' if attempts != 1 else ''}")
        super().__init__(": ".join(details[:1]) + " (" + ", ".join(details[1:]) + ")")
        self.endpoint = endpoint
        self.code = code
        self.logid = logid
        self.retryable = retryable
        self.attempts = attempts
        self.sent = sent  # the call may have taken effect at Coze (a chat may exist): find it before asking again
