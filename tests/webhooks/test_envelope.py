"""Envelope parsing (property tests over arbitrary input)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cozegate.webhooks.envelope import EnvelopeError, EventEnvelope, parse_envelope

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
