"""Handler registry: ``@handlers.on("message_create")`` binds an async function to an event type."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from cozegate.inbox.model import Event

Handler: TypeAlias = Callable[[Event], Awaitable[None]]

ANY_EVENT = "*"
# Event types cozegate enqueues itself (reply delivery, ...); ingress refuses them from outside.
INTERNAL_EVENT_PREFIX = "cozegate."


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help: the event is dead-lettered at once."""


class EventHandlers:
    """Which function handles which event type. ``"*"`` catches types with no handler of their own.

    A handler may run more than once for one event (at-least-once delivery after a crash), so it
    should be idempotent; it is never run for a duplicate delivery of an already stored event.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def on(self, event_type: str) -> Callable[[Handler], Handler]:
        def register(func: Handler) -> Handler:
            self.add(event_type, func)
            return func

        return register

    def add(self, event_type: str, func: Handler) -> None:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"handler for {event_type!r} must be an `async def` function taking an Event")
        if event_type in self._handlers:
            raise ValueError(f"event type {event_type!r} already has a handler ({self._handlers[event_type]!r})")
        self._handlers[event_type] = func

    def include(self, other: EventHandlers) -> None:
        for event_type, func in other._handlers.items():
            self.add(event_type, func)

    def resolve(self, event_type: str) -> Handler | None:
        return self._handlers.get(event_type) or self._handlers.get(ANY_EVENT)

    def metric_label(self, event_type: str) -> str:
        """Bounded label value: registered types keep their name, the rest are ``other``."""
        return event_type if event_type in self._handlers else "other"

    def event_types(self) -> list[str]:
        return sorted(self._handlers)
