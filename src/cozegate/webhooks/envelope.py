"""The webhook event envelope: ``event_type``, ``event_id``, ``conversation_id``, ``user_id``, ``message``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError


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
