"""Property tests of the signature schemes, with the official Standard Webhooks library as the oracle."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from cozegate.tenants.model import decode_standard_secret
from cozegate.webhooks.signatures import SignatureError, sign_hub, sign_standard, verify_hub, verify_standard

NOW = 1_790_000_000
WINDOW = 300
keys = st.binary(min_size=1, max_size=64)
bodies = st.binary(max_size=2048)
text_bodies = st.text(max_size=512).map(str.encode)
msg_ids = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)
offsets = st.integers(min_value=-WINDOW, max_value=WINDOW)


def std_headers(msg_id: str, ts: int, signature: str) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


@given(key=keys, body=text_bodies, msg_id=msg_ids, offset=offsets)
def test_official_library_signatures_verify(key: bytes, body: bytes, msg_id: str, offset: int) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    ts = NOW + offset
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, UTC), body.decode())
    assert signature == sign_standard(decode_standard_secret(secret), msg_id, ts, body)
    assert verify_standard([key], std_headers(msg_id, ts, signature), body, now=NOW, window=WINDOW) == msg_id


@given(key=keys, body=text_bodies, msg_id=msg_ids)
def test_our_signatures_pass_the_official_verifier(key: bytes, body: bytes, msg_id: str) -> None:
    import time

    now = int(time.time())
    secret = "whsec_" + base64.b64encode(key).decode()
    headers = std_headers(msg_id, now, sign_standard(key, msg_id, now, body))
    Webhook(secret).verify(body, headers, json_parse=False)


@given(key=keys, other=keys, body=bodies, msg_id=msg_ids)
def test_a_foreign_key_never_verifies(key: bytes, other: bytes, body: bytes, msg_id: str) -> None:
    if key == other:
        return
    headers = std_headers(msg_id, NOW, sign_standard(other, msg_id, NOW, body))
    with pytest.raises(SignatureError) as err:
        verify_standard([key], headers, body, now=NOW, window=WINDOW)
    assert err.value.code == "bad_signature"


@given(key=keys, body=bodies, msg_id=msg_ids, data=st.data())
def test_any_changed_byte_breaks_the_signature(key: bytes, body: bytes, msg_id: str, data: st.DataObject) -> None:
    signature = sign_standard(key, msg_id, NOW, body)
    tampered = bytearray(body or b"x")
    i = data.draw(st.integers(0, len(tampered) - 1))
    tampered[i] ^= data.draw(st.integers(1, 255))
    if bytes(tampered) == body:
        return
    with pytest.raises(SignatureError):
        verify_standard([key], std_headers(msg_id, NOW, signature), bytes(tampered), now=NOW, window=WINDOW)
    # the signed id and timestamp are bound too
    with pytest.raises(SignatureError):
        verify_standard([key], std_headers(msg_id + "x", NOW, signature), body, now=NOW, window=WINDOW)
    with pytest.raises(SignatureError):
        verify_standard([key], std_headers(msg_id, NOW + 1, signature), body, now=NOW, window=WINDOW)


@given(
    key=keys,
    old=keys,
    body=bodies,
    msg_id=msg_ids,
    junk=st.lists(st.text(min_size=1, max_size=30), max_size=3),
)
def test_rotation_and_several_signatures(key: bytes, old: bytes, body: bytes, msg_id: str, junk: list[str]) -> None:
    """Either active secret verifies; a header may carry several signatures (and unknown versions)."""
    good = sign_standard(old, msg_id, NOW, body)
    noise = [j.replace(" ", "") for j in junk if j.strip()]
    header = " ".join([*noise, "v2,AAAA", good])
    verify_standard([key, old], std_headers(msg_id, NOW, header), body, now=NOW, window=WINDOW)


@given(
    key=keys,
    body=bodies,
    offset=st.integers(min_value=WINDOW + 1, max_value=10**6),
    sign=st.sampled_from([-1, 1]),
)
def test_outside_the_window_is_stale(key: bytes, body: bytes, offset: int, sign: int) -> None:
    ts = NOW + sign * offset
    headers = std_headers("m", ts, sign_standard(key, "m", ts, body))
    with pytest.raises(SignatureError) as err:
        verify_standard([key], headers, body, now=NOW, window=WINDOW)
    assert err.value.code == "stale_timestamp"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_signature"),
        ({"webhook-id": "m", "webhook-timestamp": str(NOW)}, "missing_signature"),
        (
            {"webhook-id": "m", "webhook-timestamp": str(NOW), "webhook-signature": "v1,not base64!"},
            "bad_signature",
        ),
        ({"webhook-id": "m", "webhook-timestamp": str(NOW), "webhook-signature": "garbage"}, "bad_signature"),
    ],
)
def test_malformed_standard_headers(headers: dict[str, str], code: str) -> None:
    with pytest.raises(SignatureError) as err:
        verify_standard([b"k"], headers, b"{}", now=NOW, window=WINDOW)
    assert err.value.code == code


def test_non_numeric_timestamp_is_rejected_after_a_valid_signature() -> None:
    headers = {"webhook-id": "m", "webhook-timestamp": "yesterday"}
    digest = hmac.digest(b"k", b"m.yesterday.{}", "sha256")
    headers["webhook-signature"] = "v1," + base64.b64encode(digest).decode()
    with pytest.raises(SignatureError) as err:
        verify_standard([b"k"], headers, b"{}", now=NOW, window=WINDOW)
    assert err.value.code == "bad_timestamp"


@given(key=keys, body=bodies)
@settings(max_examples=200)
def test_hub_matches_githubs_definition(key: bytes, body: bytes) -> None:
    expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    assert sign_hub(key, body) == expected
    verify_hub([key], {"x-hub-signature-256": expected}, body, now=NOW, window=WINDOW)
    verify_hub(
        [b"other-key", key],
        {"x-hub-signature-256": expected.upper().replace("SHA256=", "sha256=")},
        body,
        now=NOW,
        window=WINDOW,
    )


@given(key=keys, body=bodies, header=st.text(max_size=80))
def test_hub_rejects_anything_else(key: bytes, body: bytes, header: str) -> None:
    if header == sign_hub(key, body) or header.lower() == sign_hub(key, body):
        return
    with pytest.raises(SignatureError) as err:
        verify_hub([key], {"x-hub-signature-256": header} if header else {}, body, now=NOW, window=WINDOW)
    assert err.value.code in ("bad_signature", "missing_signature")


def test_hub_timestamp_header_is_enforced_when_configured() -> None:
    def hub(ts: int) -> dict[str, str]:
        return {"x-hub-signature-256": sign_hub(b"k", b"{}", ts), "x-timestamp": str(ts)}

    with pytest.raises(SignatureError) as err:
        verify_hub([b"k"], {"x-hub-signature-256": sign_hub(b"k", b"{}")}, b"{}", now=NOW, window=WINDOW,
                   timestamp_header="x-timestamp")  # fmt: skip
    assert err.value.code == "bad_timestamp"
    with pytest.raises(SignatureError) as err:
        verify_hub([b"k"], hub(NOW - 301), b"{}", now=NOW, window=WINDOW, timestamp_header="x-timestamp")
    assert err.value.code == "stale_timestamp"
    verify_hub([b"k"], hub(NOW - 299), b"{}", now=NOW, window=WINDOW, timestamp_header="x-timestamp")


@given(
    signed_at=st.integers(min_value=NOW - 10**6, max_value=NOW + 10**6), edit=st.integers(min_value=1, max_value=10**6)
)
def test_the_hub_timestamp_is_signed_so_editing_it_breaks_the_signature(signed_at: int, edit: int) -> None:
    """A captured request resent with a fresh timestamp header (to get back into the window) is refused."""
    headers = {"x-hub-signature-256": sign_hub(b"k", b"{}", signed_at), "x-timestamp": str(signed_at + edit)}
    with pytest.raises(SignatureError) as err:
        verify_hub([b"k"], headers, b"{}", now=signed_at + edit, window=WINDOW, timestamp_header="x-timestamp")
    assert err.value.code == "bad_signature"


@pytest.mark.parametrize("secret", ["whsec_", "whsec_!!!", "whsec_a b"])
def test_bad_standard_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        decode_standard_secret(secret)
