"""Coze response envelopes and error codes.

Success: ``{"code": 0, "msg": "", "data": ..., "detail": {"logid": ...}}`` (some endpoints put their result
at the top level instead of ``data``). Failure: ``{"code": <coze code>, "msg": ..., "detail": {"logid": ...}}``.
Every response also carries the log id in the ``X-Tt-Logid`` header.

HTTP status: cozepy never reads it. Business errors travel with HTTP 200 the way Coze sends them; bad
tokens are 401, rate limits 429, internal errors 500 (``HTTP_STATUS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from types import MappingProxyType
from typing import Any

from starlette.responses import JSONResponse

LOGID_HEADER = "X-Tt-Logid"


class CozeCode(IntEnum):
    BAD_PARAMS = 4000
    CHAT_INVALID = 4001
    CONVERSATION_INVALID = 4002
    META_DATA_LIMIT = 4003
    ADDITIONAL_MESSAGES_LIMIT = 4004
    BOT_INVALID = 4006
    STREAM_NEEDS_HISTORY = 4007
    DAILY_LIMIT = 4008
    SYSTEM_LIMIT = 4009
    BOT_NOT_PUBLISHED = 4015
    CONVERSATION_BUSY = 4016
    RPM_LIMIT = 4020
    AUTH_INVALID = 4100
    NO_PERMISSION = 4101
    NOT_CANCELLABLE = 4104
    NOT_FOUND = 4200
    INTERNAL = 5000


MESSAGES: Mapping[int, str] = MappingProxyType(
    {
        CozeCode.BAD_PARAMS: "Request parameter error",
        CozeCode.CHAT_INVALID: "The chat does not exist or is invalid",
        CozeCode.CONVERSATION_INVALID: "The conversation does not exist or is invalid",
        CozeCode.META_DATA_LIMIT: "meta_data exceeds the limit: at most 16 pairs, keys 1-64 and values 1-512 chars",
        CozeCode.ADDITIONAL_MESSAGES_LIMIT: "additional_messages exceeds the limit of 100 messages",
        CozeCode.BOT_INVALID: "The bot does not exist or is invalid",
        CozeCode.STREAM_NEEDS_HISTORY: "auto_save_history must be true for a non-streaming chat",
        CozeCode.DAILY_LIMIT: "You have exceeded the daily usage limit",
        CozeCode.SYSTEM_LIMIT: "The system is busy, please retry later",
        CozeCode.BOT_NOT_PUBLISHED: "The bot has not been published to the API channel",
        CozeCode.CONVERSATION_BUSY: "A chat is already running in this conversation; wait for it to finish",
        CozeCode.RPM_LIMIT: "You have exceeded the rate limit (requests per minute); please retry later",
        CozeCode.AUTH_INVALID: "authentication is invalid",
        CozeCode.NO_PERMISSION: "The token does not have the permission required for this request",
        CozeCode.NOT_CANCELLABLE: "The chat is not in progress and cannot be cancelled",
        CozeCode.NOT_FOUND: "The resource was not found",
        CozeCode.INTERNAL: (
            "We're currently experiencing server issues. Please try your request again after a short delay. "
            "If the problem persists, contact our support team."
        ),
    }
)

HTTP_STATUS: Mapping[int, int] = MappingProxyType(
    {
        CozeCode.AUTH_INVALID: 401,
        CozeCode.NO_PERMISSION: 403,
        CozeCode.DAILY_LIMIT: 429,
        CozeCode.SYSTEM_LIMIT: 429,
        CozeCode.RPM_LIMIT: 429,
        CozeCode.INTERNAL: 500,
    }
)


class CozeError(Exception):
    """Raised by handlers; the dispatcher turns it into the Coze error envelope."""

    def __init__(
        self, code: int, msg: str | None = None, *, status: int | None = None, debug_url: str | None = None
    ) -> None:
        self.code = int(code)
        self.debug_url = debug_url
        self.msg = msg if msg is not None else MESSAGES.get(self.code, "error")
        self.status = status if status is not None else HTTP_STATUS.get(self.code, 200)
        super().__init__(f"{self.code}: {self.msg}")


def bad_params(msg: str) -> CozeError:
    return CozeError(CozeCode.BAD_PARAMS, f"Request parameter error: {msg}")


def envelope(data: Any) -> dict[str, Any]:
    """The success envelope around ``data`` (the log id is added when the response is built)."""
    return {"code": 0, "msg": "", "data": data}


def success(**top_level: Any) -> dict[str, Any]:
    """A success body whose result sits at the top level (message list paging, documents, workflow run)."""
    return {"code": 0, "msg": "", **top_level}


def error_body(code: int, msg: str, debug_url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if debug_url:
        body["debug_url"] = debug_url
    return body


def json_response(
    body: dict[str, Any], logid: str, status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Add ``detail.logid`` to Coze envelopes (bodies with a ``code``) and the log id header to all."""
    if "code" in body:
        body = {**body, "detail": {"logid": logid}}
    return JSONResponse(body, status_code=status, headers={LOGID_HEADER: logid, **(headers or {})})
