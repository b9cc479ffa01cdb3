"""Sign requests the way senders do; Standard Webhooks signatures come from the official library."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook


def standard_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    msg_id = msg_id or "msg_" + secrets.token_hex(8)
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body.decode())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def hub_headers(secret: str, body: bytes, timestamp: int | str | None = None) -> dict[str, str]:
    """GitHub's signature of the body; with ``timestamp``, of ``"{timestamp}.{body}"`` (sent as X-Hub-Timestamp)."""
    signed = body if timestamp is None else f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"}
    if timestamp is not None:
        headers["x-hub-timestamp"] = str(timestamp)
    return headers


def event_body(event_id: str, event_type: str = "message_create", **extra: object) -> bytes:
    import json

    return json.dumps(
        {
            "event_type": event_type,
            "event_id": event_id,
            "conversation_id": "c1",
            "user_id": "u1",
            "message": {"role": "user", "content": "hello"},
            **extra,
        }
    ).encode()
