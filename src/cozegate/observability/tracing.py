"""OpenTelemetry tracing: set up from the standard ``OTEL_*`` variables, and the few helpers that carry a
trace across the inbox (a W3C ``traceparent`` stored with each event).

Tracing is on when a process installs an SDK ``TracerProvider``: ``configure_tracing()`` does so when
``OTEL_TRACES_EXPORTER`` names an exporter or an OTLP endpoint is set (and ``OTEL_SDK_DISABLED`` is not
true); a test or an embedding application may install its own. Off, nothing is created or sent and the
hot paths pay one context-variable lookup.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

TRACER_NAME = "cozegate"
DEFAULT_SERVICE_NAME = "cozegate"
_W3C = TraceContextTextMapPropagator()


def tracing_enabled() -> bool:
    """True once an SDK tracer provider is installed (by ``configure_tracing`` or by the embedding code)."""
    from opentelemetry.sdk.trace import TracerProvider

    return isinstance(trace.get_tracer_provider(), TracerProvider)


def requested_exporters(env: Mapping[str, str]) -> list[str]:
    """The span exporters the standard variables ask for (empty: tracing stays off)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = env.get("OTEL_TRACES_EXPORTER")
    if named is not None:
        return [name for name in (n.strip().lower() for n in named.split(",")) if name and name != "none"]
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return ["otlp"]
    return []


def configure_tracing(env: Mapping[str, str] | None = None) -> bool:
    """Install a tracer provider exporting as ``OTEL_*`` says; instrument httpx (Coze calls, reply delivery).

    Idempotent; returns whether tracing is on. Service name, resource attributes, sampler, batch sizes and
    the exporters' endpoint, headers, timeout and compression come from the standard variables, read by
    the SDK itself (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``,
    ``OTEL_BSP_*``, ``OTEL_EXPORTER_OTLP_*``).
    """
    if tracing_enabled():
        return True
    env = os.environ if env is None else env
    exporters = requested_exporters(env)
    if not exporters:
        return False
    install_tracer_provider(*(_exporter(name, env) for name in exporters))
    return True


def install_tracer_provider(*exporters: SpanExporter, batch: bool = True) -> TracerProvider:
    """Install an SDK tracer provider exporting to ``exporters``, each behind ``PrivateSpanExporter`` (no
    query strings, client addresses, headers or exception messages leave); instrument httpx. ``batch``:
    export in the background (``OTEL_BSP_*``); tests export each span as it ends."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    from cozegate.observability.span_privacy import PrivateSpanExporter

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        private = PrivateSpanExporter(exporter)
        provider.add_span_processor(BatchSpanProcessor(private) if batch else SimpleSpanProcessor(private))
    trace.set_tracer_provider(provider)
    instrument_http_clients()
    return provider


def _exporter(name: str, env: Mapping[str, str]) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={name!r} is not supported here: use otlp, console or none")
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    if protocol != "http/protobuf":
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: use http/protobuf or grpc")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()


def instrument_http_clients() -> None:
    """Client spans for every httpx request (cozepy's Coze calls, reply delivery), with ``traceparent`` sent."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def flush_tracing(timeout_millis: int = 5000) -> None:
    """Send the spans still queued (at shutdown)."""
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if callable(flush):
        flush(timeout_millis)


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, to store with an event; None outside a recorded trace."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def current_ids() -> tuple[str, str] | None:
    """Trace and span id of the current span as hex (for log lines), None outside one."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


@contextmanager
def consumer_span(name: str, traceparent: str | None, attributes: Mapping[str, str | int]) -> Iterator[Span]:
    """A span for work taken from the inbox: a child of the span that stored it (one trace from request to
    reply), with a link to that span marking the asynchronous hop. Without a stored context: a new trace."""
    parent = _W3C.extract({"traceparent": traceparent}) if traceparent else otel_context.Context()
    stored = trace.get_current_span(parent).get_span_context()
    links = [Link(stored, {"cozegate.link": "inbox.enqueued"})] if stored.is_valid else []
    with tracer().start_as_current_span(
        name,
        context=parent,
        kind=SpanKind.CONSUMER,
        links=links,
        attributes=dict(attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def use_span(span: Span) -> AbstractContextManager[Span]:
    """Make ``span`` current inside the block without ending it when the block ends."""
    return trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)


def record_failure(exc: BaseException, span: Span | None = None) -> None:
    """Mark the (current) span failed. Only the exception's type leaves the process: its message can hold
    a user's words (the full error is in the inbox's attempt log and the masked log line)."""
    span = span or trace.get_current_span()
    if span.is_recording():
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
        span.add_event("exception", {"exception.type": kind})
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
