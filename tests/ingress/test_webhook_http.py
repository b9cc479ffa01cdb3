"""The webhook endpoint over real loopback HTTP against a real server process, on both backends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Backend
from tests.support.inspect_db import inbox_rows
from tests.support.server import ServerProcess
from tests.support.signing import event_body, hub_headers, standard_headers

HUB_SECRET = "hub-secret-value"
OLD_SECRET = "whsec_" + "b2xkLXNlY3JldC1rZXktb2xkLXNlY3JldC1rZXk="


@pytest.fixture
def server(backend: Backend) -> Iterator[ServerProcess]:
    backend.extra_tenants = {
        "github": {
            "signature_scheme": "hub",
            "secrets": [{"value": HUB_SECRET}],
            "dedup_key": {"source": "header", "header": "X-GitHub-Delivery"},
            "timestamp_header": "X-Hub-Timestamp",
        },
        "stripe": {"secrets": [{"value": backend.secret}], "dedup_key": {"source": "body", "path": "id"}},
        "rotating": {"secrets": [{"value": backend.secret}, {"value": OLD_SECRET}]},
        "expired": {
            "secrets": [
                {"value": backend.secret},
                {"value": OLD_SECRET, "expires_at": "2020-01-01T00:00:00Z"},
            ]
        },
        "by-header": {"secrets": [{"value": backend.secret}], "dedup_key": {"source": "header"}},
        "noisy": {"secrets": [{"value": backend.secret}], "ingress_limits": {"rate": 0.01, "burst": 2}},
    }
    proc = ServerProcess(backend.settings_env(COZEGATE_WORKERS="0"), backend.tmp / "server.log").start()
    yield proc
    assert proc.stop(), proc.logs()


def post(server: ServerProcess, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.url + path, content=body, headers=headers, timeout=10)


def test_ack_then_duplicate_on_both_paths(server: ServerProcess, backend: Backend) -> None:
    body = event_body("evt-1")
    first = post(server, "/coze/webhook", body, standard_headers(backend.secret, body))
    assert (first.status_code, first.json()) == (200, {"status": "acknowledged"})
    again = post(server, "/webhooks/default", body, standard_headers(backend.secret, body))
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    rows = inbox_rows(backend)
    assert [(r["tenant"], r["dedup_key"], r["status"]) for r in rows] == [("default", "evt-1", "pending")]
    assert json.loads(rows[0]["payload"]) == json.loads(body)
    assert rows[0]["request_id"] == first.headers["x-request-id"]


def test_every_bad_input_gets_its_error_and_stores_nothing(server: ServerProcess, backend: Backend) -> None:
    s = backend.secret
    good = event_body("evt-ok")
    now = int(time.time())
    cases: list[tuple[str, str, bytes, dict[str, str], int, str]] = [
        ("malformed json", "/coze/webhook", b"{nope", standard_headers(s, b"{nope"), 400, "malformed_json"),
        (
            "missing event id",
            "/coze/webhook",
            b'{"event_type":"x"}',
            standard_headers(s, b'{"event_type":"x"}'),
            400,
            "missing_event_id",
        ),
        (
            "wrong types",
            "/coze/webhook",
            b'{"event_type":1,"event_id":"e"}',
            standard_headers(s, b'{"event_type":1,"event_id":"e"}'),
            422,
            "invalid_event",
        ),
        (
            "wrong content type",
            "/coze/webhook",
            good,
            {**standard_headers(s, good), "content-type": "text/plain"},
            415,
            "unsupported_media_type",
        ),
        (
            "no content type",
            "/coze/webhook",
            good,
            {k: v for k, v in standard_headers(s, good).items() if k != "content-type"},
            415,
            "unsupported_media_type",
        ),
        (
            "missing signature",
            "/coze/webhook",
            good,
            {"content-type": "application/json"},
            401,
            "missing_signature",
        ),
        (
            "bad signature",
            "/coze/webhook",
            good,
            {**standard_headers(s, good), "webhook-signature": "v1,AAAA"},
            401,
            "bad_signature",
        ),
        (
            "signed by another secret",
            "/coze/webhook",
            good,
            standard_headers(OLD_SECRET, good),
            401,
            "bad_signature",
        ),
        (
            "stale timestamp",
            "/coze/webhook",
            good,
            standard_headers(s, good, timestamp=now - 301),
            401,
            "stale_timestamp",
        ),
        (
            "future timestamp",
            "/coze/webhook",
            good,
            standard_headers(s, good, timestamp=now + 400),
            401,
            "stale_timestamp",
        ),
        ("unknown tenant", "/webhooks/nobody", good, standard_headers(s, good), 404, "unknown_tenant"),
        ("nested tenant path", "/webhooks/default/x", good, standard_headers(s, good), 404, "unknown_tenant"),
        (
            "expired rotation secret",
            "/webhooks/expired",
            good,
            standard_headers(OLD_SECRET, good),
            401,
            "bad_signature",
        ),
        (
            "hub without timestamp",
            "/webhooks/github",
            good,
            {**hub_headers(HUB_SECRET, good), "x-github-delivery": "d"},
            401,
            "bad_timestamp",
        ),
        (
            "hub with bad signature",
            "/webhooks/github",
            good,
            hub_headers("wrong", good, now),
            401,
            "bad_signature",
        ),
        (
            "hub signed over the body alone, with a fresh timestamp header added",
            "/webhooks/github",
            good,
            {**hub_headers(HUB_SECRET, good), "x-hub-timestamp": str(now), "x-github-delivery": "d-body"},
            401,
            "bad_signature",
        ),
        (
            "hub with its timestamp edited (a replay past the window)",
            "/webhooks/github",
            good,
            {**hub_headers(HUB_SECRET, good, now - 3600), "x-hub-timestamp": str(now), "x-github-delivery": "d-old"},
            401,
            "bad_signature",
        ),
        (
            "header key missing",
            "/webhooks/github",
            good,
            hub_headers(HUB_SECRET, good, now),
            400,
            "missing_event_id",
        ),
    ]
    for name, path, body, headers, status, code in cases:
        response = post(server, path, body, {**headers, "x-request-id": f"req-{status}"})
        assert response.status_code == status, (name, response.text)
        error = response.json()["error"]
        assert error["code"] == code, name
        assert error["message"], name
        assert error["request_id"] == f"req-{status}" == response.headers["x-request-id"], name

    oversize = b'{"event_type":"x","event_id":"big","pad":"' + b"a" * (1024 * 1024) + b'"}'
    response = post(server, "/coze/webhook", oversize, standard_headers(s, oversize))
    assert (response.status_code, response.json()["error"]["code"]) == (413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        yield b'{"event_type":"x","event_id":"big2","pad":"'
        for _ in range(20):
            yield b"a" * 65536
        yield b'"}'

    response = httpx.post(
        server.url + "/coze/webhook",
        content=chunks(),
        headers={
            "content-type": "application/json",
            "webhook-id": "m",
            "webhook-timestamp": "1",
            "webhook-signature": "v1,AAAA",
        },
    )
    assert (response.status_code, response.json()["error"]["code"]) == (413, "body_too_large")

    response = httpx.get(server.url + "/coze/webhook")
    assert (response.status_code, response.json()["error"]["code"]) == (405, "method_not_allowed")

    assert inbox_rows(backend) == [], "a rejected request must leave nothing behind"
    metrics = httpx.get(server.url + "/metrics").text
    assert 'cozegate_webhook_rejected_total{reason="stale_timestamp"} 2.0' in metrics
    assert 'cozegate_webhook_rejected_total{reason="unknown_tenant"} 2.0' in metrics


def test_oversized_or_too_many_headers_answer_431_on_every_route(server: ServerProcess, backend: Backend) -> None:
    body = event_body("evt-big-header")
    signed = standard_headers(backend.secret, body)
    huge = post(server, "/coze/webhook", body, {**signed, "x-padding": "a" * 65_536})
    assert (huge.status_code, huge.json()["error"]["code"]) == (431, "headers_too_large")
    many = post(server, "/coze/webhook", body, {**signed, **{f"x-h{i}": "v" for i in range(150)}})
    assert (many.status_code, many.json()["error"]["code"]) == (431, "headers_too_large")
    for path in ("/admin/inbox", "/v1/chat", "/healthz", "/plugins/x/y"):
        assert httpx.get(server.url + path, headers={"x-padding": "a" * 20_000}).status_code == 431, path
    assert inbox_rows(backend) == []
    assert post(server, "/coze/webhook", body, signed).status_code == 200  # a normal request still goes through


def test_each_tenant_has_an_ingress_quota(server: ServerProcess, backend: Backend) -> None:
    forged = event_body("forged")
    assert post(server, "/webhooks/noisy", forged, standard_headers(OLD_SECRET, forged)).status_code == 401
    codes = []
    for i in range(3):
        body = event_body(f"noisy-{i}")
        codes.append(post(server, "/webhooks/noisy", body, standard_headers(backend.secret, body)))
    assert [r.status_code for r in codes] == [200, 200, 429]  # the forged request spent no token
    assert codes[2].json()["error"]["code"] == "tenant_rate_limited"
    assert int(codes[2].headers["retry-after"]) >= 1
    assert [r["dedup_key"] for r in inbox_rows(backend)] == ["noisy-0", "noisy-1"]
    other = event_body("calm-1")
    assert post(server, "/coze/webhook", other, standard_headers(backend.secret, other)).status_code == 200


def test_dedup_key_sources_and_rotation(server: ServerProcess, backend: Backend) -> None:
    now = str(int(time.time()))
    body = event_body("same-body-id")
    for delivery in ("d-1", "d-2", "d-1"):
        r = post(
            server,
            "/webhooks/github",
            body,
            {**hub_headers(HUB_SECRET, body, now), "x-github-delivery": delivery},
        )
        assert r.status_code == 200, r.text
    stripe_body = json.dumps({"event_type": "invoice.paid", "id": "evt_stripe_1", "data": {}}).encode()
    assert post(server, "/webhooks/stripe", stripe_body, standard_headers(backend.secret, stripe_body)).json() == {
        "status": "acknowledged"
    }
    # webhook-id as the key: two different bodies with one message id are one event
    b1, b2 = event_body("x1"), event_body("x2")
    assert (
        post(server, "/webhooks/by-header", b1, standard_headers(backend.secret, b1, msg_id="msg-7")).json()["status"]
        == "acknowledged"
    )
    assert (
        post(server, "/webhooks/by-header", b2, standard_headers(backend.secret, b2, msg_id="msg-7")).json()["status"]
        == "duplicate"
    )
    # rotation: the new and the old secret both verify while both are configured
    for i, secret in enumerate((backend.secret, OLD_SECRET)):
        b = event_body(f"rot-{i}")
        assert post(server, "/webhooks/rotating", b, standard_headers(secret, b)).status_code == 200
    keys = sorted((r["tenant"], r["dedup_key"]) for r in inbox_rows(backend))
    assert keys == sorted(
        [
            ("github", "d-1"),
            ("github", "d-2"),
            ("stripe", "evt_stripe_1"),
            ("by-header", "msg-7"),
            ("rotating", "rot-0"),
            ("rotating", "rot-1"),
        ]
    )


def test_full_inbox_answers_503_with_retry_after(backend: Backend) -> None:
    proc = ServerProcess(
        backend.settings_env(COZEGATE_WORKERS="0", COZEGATE_INBOX_MAX_DEPTH="2"), backend.tmp / "server.log"
    ).start()
    try:
        statuses = []
        for i in range(3):
            body = event_body(f"fill-{i}")
            statuses.append(post(proc, "/coze/webhook", body, standard_headers(backend.secret, body)))
        assert [r.status_code for r in statuses] == [200, 200, 503]
        assert statuses[2].json()["error"]["code"] == "inbox_full"
        assert int(statuses[2].headers["retry-after"]) > 0
        assert len(inbox_rows(backend)) == 2
    finally:
        assert proc.stop()


def test_health_readiness_and_metrics(server: ServerProcess, backend: Backend) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz", headers={"x-request-id": "probe-1"})
    assert ready.status_code == 200
    assert ready.headers["x-request-id"] == "probe-1"
    checks = ready.json()["checks"]
    assert checks["database"] == "ok"
    assert ("redis" in checks) == (backend.name == "postgres")
    body = event_body("m-1")
    post(server, "/coze/webhook", body, standard_headers(backend.secret, body))
    post(server, "/coze/webhook", body, standard_headers(backend.secret, body))
    text = httpx.get(server.url + "/metrics").text
    assert 'cozegate_webhook_accepted_total{tenant="default"} 1.0' in text
    assert 'cozegate_webhook_duplicates_total{tenant="default"} 1.0' in text
    assert "cozegate_inbox_depth" in text
    assert "cozegate_inbox_processing_seconds" in text
