"""The idempotency key of an inbound event, from where the tenant said it is (a body path or a header)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cozegate.tenants import DedupKeySource
from cozegate.webhooks.envelope import EnvelopeError, EventEnvelope

MAX_KEY_CHARS = 255


def dedup_key(source: DedupKeySource, envelope: EventEnvelope, text: str, headers: Mapping[str, str]) -> str:
    """The idempotency key of an event, from the body path or header the tenant configured."""
    value: Any
    if source.source == "header":
        value = headers.get(source.header)
        where = f"header {source.header}"
    elif source.path == "event_id":
        value = envelope.event_id
        where = "body field event_id"
    else:
        value = json.loads(text)  # only senders with a custom key path pay for a second parse
        for part in source.path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        where = f"body field {source.path}"
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
    if value is None or value == "":
        raise EnvelopeError(400, "missing_event_id", f"the event id ({where}) is missing: it is needed for dedup")
    if not isinstance(value, str) or len(value) > MAX_KEY_CHARS:
        raise EnvelopeError(400, "invalid_event_id", f"the event id ({where}) must be a string of 1-255 chars")
    return value
