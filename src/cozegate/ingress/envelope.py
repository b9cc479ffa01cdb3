"""The webhook event envelope (as in the seed) and dedup-key extraction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from cozegate.tenants import DedupKeySource

MAX_KEY_CHARS = 255


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: StrictStr
    content: StrictStr


class EventEnvelope(BaseModel):
    """``event_type``, ``event_id``, ``conversation_id``, ``user_id``, ``message``; extra fields are kept."""

    model_config = ConfigDict(extra="allow")

    event_type: StrictStr = Field(min_length=1, max_length=128)
    event_id: StrictStr | None = None
    conversation_id: StrictStr | None = None
    user_id: StrictStr | None = None
    message: Message | None = None


class EnvelopeError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def parse_envelope(body: bytes) -> tuple[EventEnvelope, str]:
    """Parse and type-check a body in one pass; returns the envelope and the body text.

    Malformed JSON (or not UTF-8) → 400, wrong shape or types → 422.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError(400, "malformed_json", f"the body is not UTF-8: {exc}") from None
    try:
        return EventEnvelope.model_validate_json(text), text
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise EnvelopeError(400, "malformed_json", f"the body is not valid JSON: {errors[0]['msg']}") from None
        if errors and errors[0]["type"] == "model_type" and not errors[0]["loc"]:
            raise EnvelopeError(422, "invalid_event", "the body must be a JSON object") from None
        details = [{"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"]} for err in errors]
        fields = ", ".join(d["field"] for d in details)
        raise EnvelopeError(422, "invalid_event", f"fields with wrong type or value: {fields}", details) from None


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
