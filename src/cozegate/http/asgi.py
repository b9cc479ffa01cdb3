"""What the bare ASGI hot paths (webhook ack, plugin call, platform channels) share: refusals, body reading,
JSON answers.

They skip the framework on purpose (these paths are benchmarked), so the little they need is here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
Header = tuple[bytes, bytes]


class Refusal(Exception):
    """An answer with the project's error body: status, code, message (plus details and headers)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Any = None,
        headers: list[Header] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers or []


class ClientGone(Exception):
    """The client disconnected before its request was read."""


def is_json_media_type(value: str | None) -> bool:
    if not value:
        return False
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_body(receive: Receive, content_length: str | None, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed ``limit`` (declared or streamed)."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise Refusal(400, "bad_content_length", "Content-Length is not a number") from None
        if declared > limit:
            raise Refusal(413, "body_too_large", f"the body may be at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refusal(413, "body_too_large", f"the body may be at most {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_answer(
    send: Send,
    status: int,
    body: bytes,
    request_id: str,
    extra: list[Header] | None = None,
    *,
    content_type: bytes = b"application/json",
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
