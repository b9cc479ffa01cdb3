"""Inbound webhooks: body limits, signature schemes, replay window, envelope parsing, ack."""

from cozegate.ingress.endpoint import WebhookEndpoint, is_webhook_path
from cozegate.ingress.envelope import EventEnvelope
from cozegate.ingress.signatures import SignatureError, sign_hub, sign_standard, verify_hub, verify_standard

__all__ = [
    "EventEnvelope",
    "SignatureError",
    "WebhookEndpoint",
    "is_webhook_path",
    "sign_hub",
    "sign_standard",
    "verify_hub",
    "verify_standard",
]
