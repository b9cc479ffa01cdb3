"""Webhook mechanics shared by whoever receives or sends them: the Standard Webhooks and hub signature
schemes (sign and verify, constant-time), and the event envelope model."""

from cozegate.webhooks.envelope import EnvelopeError, EventEnvelope, parse_envelope
from cozegate.webhooks.signatures import (
    SignatureError,
    sign_hub,
    sign_standard,
    standard_headers,
    verify_hub,
    verify_standard,
)

__all__ = [
    "EnvelopeError",
    "EventEnvelope",
    "SignatureError",
    "parse_envelope",
    "sign_hub",
    "sign_standard",
    "standard_headers",
    "verify_hub",
    "verify_standard",
]
