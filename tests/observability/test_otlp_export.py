"""A real ``cozegate serve`` configured only by the standard ``OTEL_*`` variables sends its spans over
OTLP/HTTP (protobuf) to a collector; here a loopback receiver that decodes them."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import Backend
from tests.support.loopback_server import LoopbackServer
from tests.support.server import ServerProcess
from tests.support.signing import standard_headers
from tests.support.waiting import wait_for

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[tuple[dict[str, str], str, str, str]] = []  # resource, name, trace id, parent id
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])])
        self.server = LoopbackServer(app)

    async def _traces(self, request: Request) -> Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.body())
        with self._lock:
            for resource_spans in export.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append((resource, span.name, span.trace_id.hex(), span.parent_span_id.hex()))
        return Response(b"", media_type="application/x-protobuf")

    def names_in(self, trace_id: str) -> set[str]:
        with self._lock:
            return {name for _, name, trace, _ in self.spans if trace == trace_id}


@pytest.fixture
def collector() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.server.start_serving()
    yield receiver
    receiver.server.stop_serving()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_spans_leave_by_otlp_as_the_standard_variables_say(backend: Backend, collector: OtlpReceiver) -> None:
    backend.default_tenant = {"bot_id": "bot-echo"}
    env = backend.settings_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.server.url,
        OTEL_SERVICE_NAME="cozegate-under-test",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=ci",
        OTEL_BSP_SCHEDULE_DELAY="100",
        COZEGATE_HANDLER_MODULES="[]",
    )
    env.pop("OTEL_SDK_DISABLED", None)
    server = ServerProcess(env, backend.tmp / "serve.log").start()
    try:
        body = json.dumps(
            {
                "event_type": "message_create",
                "event_id": "evt-otlp",
                "conversation_id": "c1",
                "message": {"role": "user", "content": "hi"},
            }
        ).encode()
        headers = {**standard_headers(backend.secret, body), "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
        request = urllib.request.Request(f"{server.url}/webhooks/default", data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        expected = {"POST webhook", "inbox process message_create", "coze chat.stream"}
        wait_for(lambda: expected <= collector.names_in(TRACE_ID), timeout=30)
    finally:
        assert server.stop(), server.logs()
    resource, _, _, parent = next(s for s in collector.spans if s[1] == "POST webhook")
    assert parent == PARENT_ID
    assert resource["service.name"] == "cozegate-under-test"
    assert resource["deployment.environment"] == "ci"
    log_lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
    answered = [line for line in log_lines if line.get("msg") == "answered"]
    assert answered
    assert answered[0]["trace_id"] == TRACE_ID
