"""What spans may carry out of the process: every exporter is wrapped so that, whatever instrumentation
recorded, no URL query string (tokens, phone numbers), client address, user agent, header value or
exception message (a user's words) is exported. Exceptions keep their type; failed spans their status
code with the exception type only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status, StatusCode

_URL_ATTRIBUTES = frozenset({"url.full", "http.url", "http.target"})
_DROPPED_ATTRIBUTES = frozenset(
    {
        "url.query",
        "client.address",
        "client.port",
        "net.peer.ip",
        "net.sock.peer.addr",
        "net.sock.peer.port",
        "http.client_ip",
        "user_agent.original",
        "http.user_agent",
    }
)
_DROPPED_PREFIXES = ("http.request.header.", "http.response.header.")
_EXCEPTION_KEPT = frozenset({"exception.type", "exception.escaped"})


def _allowed(key: str) -> bool:
    return key not in _DROPPED_ATTRIBUTES and not key.startswith(_DROPPED_PREFIXES)


def private_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if not _allowed(key):
            continue
        if key in _URL_ATTRIBUTES and isinstance(value, str):
            value = value.split("?", 1)[0].split("#", 1)[0]
        kept[key] = value
    return kept


def _private_event(event: Event) -> Event:
    if event.name != "exception":
        return Event(event.name, private_attributes(event.attributes), event.timestamp)
    kept = {k: v for k, v in (event.attributes or {}).items() if k in _EXCEPTION_KEPT}
    return Event(event.name, kept, event.timestamp)


def _private_status(status: Status) -> Status:
    if status.status_code is not StatusCode.ERROR or not status.description:
        return status
    return Status(StatusCode.ERROR, status.description.split(":", 1)[0])  # "ValueError: <message>" → type


def private_span(span: ReadableSpan) -> ReadableSpan:
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=private_attributes(span.attributes),
        events=[_private_event(e) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=_private_status(span.status),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class PrivateSpanExporter(SpanExporter):
    """Hands ``inner`` a private copy of every span."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([private_span(s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)
