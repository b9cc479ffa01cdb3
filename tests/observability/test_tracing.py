"""One webhook → reply is one connected trace: the inbound ``traceparent`` is continued, the inbox hop is
a parent and a link, the Coze call (the built-in simulator, over real HTTP) and the reply delivery carry
the trace onwards. The whole app runs in this process so an in-memory exporter sees every span."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from cozegate.app import create_app
from cozegate.observability.logging import JsonFormatter
from cozegate.observability.tracing import install_tracer_provider, requested_exporters
from tests.conftest import Backend, free_port
from tests.support.loopback_server import LoopbackServer
from tests.support.pipeline_gateway import REPLY_SECRET
from tests.support.receiver import ReplyReceiver
from tests.support.signing import standard_headers
from tests.support.waiting import wait_for

INBOUND_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INBOUND_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{INBOUND_TRACE}-{INBOUND_SPAN}-01"

_EXPORTER = InMemorySpanExporter()


def _provider() -> TracerProvider:
    """The process's tracer provider can be set once: the first test installs it, later ones reuse it."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    return install_tracer_provider(_EXPORTER, batch=False)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    _provider()
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


@pytest.fixture
def log_lines() -> Iterator[list[dict[str, object]]]:
    lines: list[dict[str, object]] = []
    formatter = JsonFormatter()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(formatter.format(record)))

    handler = Collect(level=logging.INFO)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lines
    root.removeHandler(handler)
    root.setLevel(previous)


def post_untraced(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST with the standard library: httpx is instrumented in this process and would send its own
    ``traceparent`` instead of the caller's."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        status: int = response.status
        return status


def message(event_id: str, text: str) -> bytes:
    return json.dumps(
        {
            "event_type": "message_create",
            "event_id": event_id,
            "conversation_id": "c-trace",
            "user_id": "u-trace",
            "message": {"role": "user", "content": text},
        }
    ).encode()


def test_one_webhook_to_reply_is_one_connected_trace(
    backend: Backend,
    spans: InMemorySpanExporter,
    log_lines: list[dict[str, object]],
) -> None:
    receiver = ReplyReceiver(REPLY_SECRET).start()
    port = free_port()
    backend.default_tenant = {
        "bot_id": "bot-echo",
        "reply_url": receiver.url + "?token=reply-url-secret",
        "reply_secret": {"value": REPLY_SECRET},
    }
    app = create_app(backend.settings(port=port, handler_modules=[]))
    server = LoopbackServer(app, port=port, lifespan="on")  # type: ignore[arg-type]
    server.start_serving()
    try:
        body = message("evt-trace-1", "hello trace")
        headers = {**standard_headers(backend.secret, body), "traceparent": TRACEPARENT}
        url = f"{server.url}/webhooks/default?access_token=tok-SECRET&phone=13812345678"
        assert post_untraced(url, body, headers) == 200
        wait_for(lambda: receiver.snapshot(), timeout=30)
        reply = receiver.snapshot()[0]
        assert reply.body["message"]["content"] == "echo: hello trace"

        def delivery_span_ended() -> bool:
            return any(s.name == "inbox process cozegate.reply" for s in spans.get_finished_spans())

        wait_for(delivery_span_ended, timeout=10)
    finally:
        server.stop_serving()
        receiver.stop()

    finished = [s for s in spans.get_finished_spans() if s.context is not None]
    ours = [s for s in finished if s.context.trace_id == int(INBOUND_TRACE, 16)]
    others = [s.name for s in finished if s.context.trace_id != int(INBOUND_TRACE, 16)]
    assert not others, f"spans outside the webhook's trace: {others}"
    by_id = {s.context.span_id: s for s in ours}

    # connected: every span's parent is the caller's span or another span of this trace
    for span in ours:
        assert span.parent is not None, f"{span.name} starts a new trace"
        assert span.parent.span_id == int(INBOUND_SPAN, 16) or span.parent.span_id in by_id, span.name

    server_spans = [s for s in ours if s.kind is SpanKind.SERVER and s.name == "POST webhook"]
    assert len(server_spans) == 1
    assert server_spans[0].parent is not None
    assert server_spans[0].parent.span_id == int(INBOUND_SPAN, 16)

    def named(name: str) -> ReadableSpan:
        found = [s for s in ours if s.name == name]
        assert found, f"no span {name!r} among {sorted({s.name for s in ours})}"
        return found[0]

    def ancestors(span: ReadableSpan) -> list[str]:
        names = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    handling = named("inbox process message_create")
    assert handling.kind is SpanKind.CONSUMER
    assert ancestors(handling) == ["POST webhook"]
    assert [link.context.span_id for link in handling.links] == [server_spans[0].context.span_id]
    assert handling.attributes is not None
    assert handling.attributes["cozegate.tenant"] == "default"

    coze = named("coze chat.stream")
    assert ancestors(coze)[0] == "inbox process message_create"
    # cozepy's HTTP request is a client span under it, and the simulator (served by this app) continued it
    coze_http = [s for s in ours if s.kind is SpanKind.CLIENT and s.parent and s.parent.span_id == coze.context.span_id]
    assert coze_http, "no HTTP client span for the Coze call"
    simulated = [s for s in ours if s.kind is SpanKind.SERVER and s.name.endswith(" simulator")]
    assert any(s.parent and s.parent.span_id == coze_http[0].context.span_id for s in simulated)

    delivery = named("inbox process cozegate.reply")
    assert "inbox process message_create" in ancestors(delivery)
    assert len(delivery.links) == 1
    post = [s for s in ours if s.kind is SpanKind.CLIENT and s.parent and s.parent.span_id == delivery.context.span_id]
    assert len(post) == 1
    # the reply receiver got the trace too, and no span keeps the reply URL's query (it carried a token)
    assert reply.traceparent is not None
    assert reply.traceparent.split("-")[1] == INBOUND_TRACE
    for span in ours:  # the queries carried a token and a phone number; client addresses are personal data
        exported = json.dumps(dict(span.attributes or {}))
        assert "reply-url-secret" not in exported
        assert "tok-SECRET" not in exported
        assert "13812345678" not in exported
        assert not {"client.address", "net.peer.ip", "http.user_agent", "user_agent.original"} & set(
            span.attributes or {}
        )

    # log lines written while handling the event carry its trace and span ids, tenant and event type
    answered = [line for line in log_lines if line["msg"] == "answered"]
    assert answered, "the pipeline's log line is missing"
    assert answered[0]["trace_id"] == INBOUND_TRACE
    assert answered[0]["span_id"] in {f"{s.context.span_id:016x}" for s in ours}
    assert answered[0]["tenant"] == "default"
    assert answered[0]["event_type"] == "message_create"
    assert answered[0]["bot"] == "bot-echo"


def test_a_failing_handler_marks_its_span_without_the_message(backend: Backend, spans: InMemorySpanExporter) -> None:
    port = free_port()
    app = create_app(
        backend.settings(port=port, max_attempts=1, handler_modules=["tests.support.sink_handlers:handlers"])
    )
    server = LoopbackServer(app, port=port, lifespan="on")  # type: ignore[arg-type]
    server.start_serving()
    try:
        body = json.dumps({"event_type": "always_fail", "event_id": "evt-fail", "note": "13812345678"}).encode()
        assert post_untraced(f"{server.url}/webhooks/default", body, standard_headers(backend.secret, body)) == 200

        def failed() -> list[ReadableSpan]:
            return [s for s in spans.get_finished_spans() if s.name == "inbox process always_fail"]

        wait_for(failed, timeout=15)
    finally:
        server.stop_serving()
    span = failed()[0]
    assert not span.status.is_ok, (span.status.status_code, span.events, span.attributes)
    assert [e.name for e in span.events] == ["exception"]
    assert set(span.events[0].attributes or {}) == {"exception.type"}
    # a webhook without traceparent starts its own trace; the handling still belongs to it
    server_span = next(s for s in spans.get_finished_spans() if s.name == "POST webhook")
    assert span.context is not None
    assert server_span.context is not None
    assert span.context.trace_id == server_span.context.trace_id


@pytest.mark.parametrize(
    ("env", "exporters"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
    ],
)
def test_the_standard_variables_decide_whether_and_where_spans_go(env: dict[str, str], exporters: list[str]) -> None:
    assert requested_exporters(env) == exporters


def test_exported_spans_keep_exception_types_but_not_messages() -> None:
    from opentelemetry.sdk.trace import TracerProvider as Provider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from cozegate.observability.span_privacy import PrivateSpanExporter

    memory = InMemorySpanExporter()
    provider = Provider()
    provider.add_span_processor(SimpleSpanProcessor(PrivateSpanExporter(memory)))
    tracer = provider.get_tracer("test")

    def fail() -> None:
        with tracer.start_as_current_span("POST chat") as span:
            span.set_attribute("http.url", "http://gw/v1/chat?user=13812345678#frag")
            span.set_attribute("http.request.header.authorization", ("Bearer secret-token",))
            raise ValueError("could not route message from 13812345678")

    with pytest.raises(ValueError, match="13812345678"):
        fail()
    exported = memory.get_finished_spans()[0]
    assert dict(exported.attributes or {}) == {"http.url": "http://gw/v1/chat"}
    assert [e.name for e in exported.events] == ["exception"]
    assert (exported.events[0].attributes or {})["exception.type"] == "ValueError"
    assert set(exported.events[0].attributes or {}) <= {"exception.type", "exception.escaped"}
    assert exported.status.description == "ValueError"
    assert "13812345678" not in json.dumps([str(e.attributes) for e in exported.events])
