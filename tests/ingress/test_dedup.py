"""Dedup-key extraction: from the body path or the header the tenant configured."""

from __future__ import annotations

import json

import pytest

from cozegate.ingress.dedup import dedup_key
from cozegate.tenants import DedupKeySource
from cozegate.webhooks.envelope import EnvelopeError, parse_envelope


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
