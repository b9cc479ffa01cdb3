"""Webhook signature schemes. Pure functions over bytes; every comparison is constant-time.

* Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64>`` (several,
  space separated) over ``"{id}.{timestamp}.{body}"`` with HMAC-SHA256.
* Hub: ``X-Hub-Signature-256: sha256=<hex>`` over the raw body (GitHub); with a timestamp header
  configured, over ``"{timestamp}.{body}"``, so that the replay window cannot be dodged by editing the
  header (as Slack's v0 signs ``v0:{timestamp}:{body}``).

The signature is checked before the timestamp, so ``stale_timestamp`` is only ever reported for a
genuine (but too old or too new) message: a replay, not a forgery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

STANDARD_ID = "webhook-id"
STANDARD_TIMESTAMP = "webhook-timestamp"
STANDARD_SIGNATURE = "webhook-signature"
HUB_SIGNATURE = "x-hub-signature-256"


class SignatureError(Exception):
    """``code`` is one of ``missing_signature``, ``bad_signature``, ``bad_timestamp``, ``stale_timestamp``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sign_standard(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.digest(key, f"{msg_id}.{timestamp}.".encode() + body, "sha256")
    return "v1," + base64.b64encode(digest).decode()


def standard_headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of a delivery of ``body`` signed with ``key``."""
    return {
        STANDARD_ID: msg_id,
        STANDARD_TIMESTAMP: str(timestamp),
        STANDARD_SIGNATURE: sign_standard(key, msg_id, timestamp, body),
    }


def sign_hub(key: bytes, body: bytes, timestamp: int | None = None) -> str:
    """``sha256=<hex>`` of the body, or of ``"{timestamp}.{body}"`` when the tenant names a timestamp header."""
    return "sha256=" + hmac.new(key, _hub_signed(body, timestamp), hashlib.sha256).hexdigest()


def _hub_signed(body: bytes, timestamp: int | str | None) -> bytes:
    return body if timestamp is None else f"{timestamp}.".encode() + body


def _parse_timestamp(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SignatureError("bad_timestamp", "the timestamp header must be Unix seconds") from None


def _check_window(timestamp: int, now: float, window: float) -> None:
    if abs(now - timestamp) > window:
        raise SignatureError(
            "stale_timestamp",
            f"timestamp is {int(now - timestamp)} s from server time; allowed ±{int(window)} s: "
            "resend with a fresh one",
        )


def _any_match(expected: Sequence[bytes], provided: Sequence[bytes]) -> bool:
    matched = False
    for e in expected:
        for p in provided:
            # no early exit: the work does not depend on which key or signature matched
            matched |= hmac.compare_digest(e, p)
    return matched


def verify_standard(
    keys: Sequence[bytes], headers: Mapping[str, str], body: bytes, *, now: float, window: float
) -> str:
    """Verify a Standard Webhooks request; returns its ``webhook-id``."""
    msg_id = headers.get(STANDARD_ID)
    raw_ts = headers.get(STANDARD_TIMESTAMP)
    raw_sig = headers.get(STANDARD_SIGNATURE)
    if not (msg_id and raw_ts and raw_sig):
        raise SignatureError(
            "missing_signature",
            "Standard Webhooks needs webhook-id, webhook-timestamp and webhook-signature headers",
        )
    provided = []
    for part in raw_sig.split():
        version, _, value = part.partition(",")
        if version != "v1":
            continue
        try:
            provided.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    signed = f"{msg_id}.{raw_ts}.".encode() + body
    expected = [hmac.digest(k, signed, "sha256") for k in keys]
    if not provided or not _any_match(expected, provided):
        raise SignatureError("bad_signature", "no webhook-signature matches this body with an active secret")
    _check_window(_parse_timestamp(raw_ts), now, window)
    return msg_id


def verify_hub(
    keys: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    window: float,
    timestamp_header: str | None = None,
) -> None:
    """Verify an ``X-Hub-Signature-256`` request; with ``timestamp_header``, the signature covers the
    timestamp too, and the timestamp must be within the replay window."""
    raw_sig = headers.get(HUB_SIGNATURE)
    if not raw_sig:
        raise SignatureError("missing_signature", "the X-Hub-Signature-256 header is missing")
    raw_ts = None
    if timestamp_header is not None:
        raw_ts = headers.get(timestamp_header)
        if not raw_ts:
            raise SignatureError("bad_timestamp", f"the {timestamp_header} header is missing")
    scheme, _, hex_value = raw_sig.partition("=")
    try:
        provided = bytes.fromhex(hex_value) if scheme == "sha256" else b""
    except ValueError:
        provided = b""
    signed = _hub_signed(body, raw_ts)
    expected = [hmac.digest(k, signed, "sha256") for k in keys]
    if not provided or not _any_match(expected, [provided]):
        covered = f'"{{{timestamp_header}}}.{{body}}"' if timestamp_header else "this body"
        raise SignatureError("bad_signature", f"X-Hub-Signature-256 does not match {covered} with an active secret")
    if raw_ts is not None:
        _check_window(_parse_timestamp(raw_ts), now, window)
