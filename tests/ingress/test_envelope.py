"""Envelope parsing and dedup-key extraction (property tests over arbitrary input)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cozegate.ingress.envelope import EnvelopeError, EventEnvelope, dedup_key, parse_envelope
from cozegate.tenants import DedupKeySource

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def outcome(body: bytes) -> tuple[tuple[EventEnvelope, str] | None, EnvelopeError | None]:
    try:
        return parse_envelope(body), None
    except EnvelopeError as exc:
        return None, exc


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(body: bytes) -> None:
    """Any input yields an envelope or a 400/422 error: never another exception."""
    parsed, error = outcome(body)
    if error is not None:
        assert (error.status, error.code) in {(400, "malformed_json"), (422, "invalid_event")}
    else:
        assert parsed is not None
        envelope, text = parsed
        assert isinstance(json.loads(text), dict)
        assert text.encode() == body
        assert envelope.event_type


@given(json_values)
def test_arbitrary_json_is_accepted_or_422(value: object) -> None:
    _, error = outcome(json.dumps(value).encode())
    if error is not None:
        assert (error.status, error.code) == (422, "invalid_event")


@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=10).filter(
            lambda k: k not in {"event_type", "event_id", "conversation_id", "user_id", "message"}
        ),
        json_values,
        max_size=5,
    )
)
def test_extra_fields_are_kept(extra: dict[str, object]) -> None:
    body = {"event_type": "message_create", "event_id": "e1", **extra}
    envelope, text = parse_envelope(json.dumps(body).encode())
    assert json.loads(text) == body
    assert envelope.model_extra == extra


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_type": 5, "event_id": "e"}, "event_type"),
        ({"event_type": "x", "event_id": 7}, "event_id"),
        ({"event_type": "x", "event_id": "e", "message": "hi"}, "message"),
        ({"event_type": "x", "event_id": "e", "message": {"role": "user", "content": 3}}, "message.content"),
        ({"event_id": "e"}, "event_type"),
    ],
)
def test_wrong_types_name_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(EnvelopeError) as err:
        parse_envelope(json.dumps(body).encode())
    assert err.value.status == 422
    assert field in [d["field"] for d in err.value.details or []]


def test_not_utf8_is_malformed() -> None:
    with pytest.raises(EnvelopeError) as err:
        parse_envelope('{"event_type":"x"}'.encode("utf-16"))
    assert err.value.code == "malformed_json"


def _key(source: DedupKeySource, body: dict[str, object], headers: dict[str, str] | None = None) -> str:
    envelope, text = parse_envelope(json.dumps(body).encode())
    return dedup_key(source, envelope, text, headers or {})


def test_dedup_key_sources() -> None:
    body = {"event_type": "t", "event_id": "evt-9", "data": {"object": {"id": 42}}, "id": "evt_stripe"}
    assert _key(DedupKeySource(), body) == "evt-9"
    assert _key(DedupKeySource(source="body", path="id"), body) == "evt_stripe"
    assert _key(DedupKeySource(source="body", path="data.object.id"), body) == "42"
    assert (
        _key(DedupKeySource(source="header", header="X-GitHub-Delivery"), body, {"x-github-delivery": "d-1"}) == "d-1"
    )


@pytest.mark.parametrize(
    ("source", "body", "headers", "code"),
    [
        (DedupKeySource(), {"event_type": "t"}, {}, "missing_event_id"),
        (DedupKeySource(source="header", header="webhook-id"), {"event_type": "t"}, {}, "missing_event_id"),
        (
            DedupKeySource(source="body", path="a.b"),
            {"event_type": "t", "a": {"b": ["x"]}},
            {},
            "invalid_event_id",
        ),
        (DedupKeySource(source="body", path="a.b"), {"event_type": "t", "a": "flat"}, {}, "missing_event_id"),
        (
            DedupKeySource(source="body", path="id"),
            {"event_type": "t", "id": "x" * 256},
            {},
            "invalid_event_id",
        ),
    ],
)
def test_dedup_key_errors(source: DedupKeySource, body: dict[str, object], headers: dict[str, str], code: str) -> None:
    with pytest.raises(EnvelopeError) as err:
        _key(source, body, headers)
    assert err.value.status == 400
    assert err.value.code == code


def test_empty_event_id_is_missing() -> None:
    with pytest.raises(EnvelopeError) as err:
        _key(DedupKeySource(), {"event_type": "t", "event_id": ""})
    assert (err.value.status, err.value.code) == (400, "missing_event_id")
