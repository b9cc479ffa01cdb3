"""Fields every log line of the current task carries (``tenant``, ``bot``, ``event_type``, ...): stable keys
that Loki/Promtail can turn into labels. Set where the work starts (a worker taking an event, a request
routed to a tenant), read by the JSON formatter."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType

_EMPTY: Mapping[str, str | int] = MappingProxyType({})
_fields: ContextVar[Mapping[str, str | int]] = ContextVar("cozegate_log_fields", default=_EMPTY)


def current_log_fields() -> Mapping[str, str | int]:
    return _fields.get()


def bind_log_fields(**fields: str | int | None) -> Token[Mapping[str, str | int]]:
    """Add fields (None values are left out) for the rest of the current task (a request or an event's
    handling; each runs in its own context, so nothing leaks into the next one)."""
    return _fields.set(MappingProxyType({**_fields.get(), **{k: v for k, v in fields.items() if v is not None}}))


@contextmanager
def log_fields(**fields: str | int | None) -> Iterator[None]:
    """Add fields to every log line written inside the block."""
    token = bind_log_fields(**fields)
    try:
        yield
    finally:
        _fields.reset(token)
