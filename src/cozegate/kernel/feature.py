"""What one folder adds to the gateway (``Feature``) and how features hand parts to each other (``Parts``).

A feature's build function (``<folder>/feature.py``) takes the ``Kernel`` and returns a ``Feature``:
its routes, its built-in event handlers, background loops, and how it starts and stops.
``create_app`` builds them in one order; the ``Assembly`` starts them in that order and stops them in
reverse. A part one feature makes and a later one needs (the lifecycle manager the prober watches,
say) goes through ``Parts``, keyed by its class.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.routing import BaseRoute

from cozegate.inbox.handlers import Handler

T = TypeVar("T")

Step = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class BackgroundTask:
    """A loop that runs while the gateway serves: started after every feature has started, cancelled and
    awaited before any feature stops (so no loop outlives the database it writes to)."""

    name: str
    run: Callable[[], Coroutine[Any, Any, None]]
    interrupt: Callable[[], None] | None = None  # asks the loop to end, before it is cancelled


@dataclass(frozen=True)
class Feature:
    name: str
    routes: Sequence[BaseRoute] = ()  # framework routes (Starlette endpoints, behind the request-id middleware)
    hot_routes: Sequence[BaseRoute] = ()  # bare ASGI endpoints, matched first, no framework in between
    handlers: Mapping[str, Handler] = field(default_factory=dict)  # built-in handlers, by event type
    tasks: Sequence[BackgroundTask] = ()
    start: Step | None = None
    stop: Step | None = None


@dataclass
class Parts:
    """Parts features make for later features, one per class."""

    _parts: dict[type, object] = field(default_factory=dict)

    def provide(self, *parts: object) -> None:
        for part in parts:
            kind = type(part)
            if kind in self._parts:
                raise ValueError(f"a {kind.__name__} is provided twice")
            self._parts[kind] = part

    def find(self, kind: type[T]) -> T | None:
        part = self._parts.get(kind)
        assert part is None or isinstance(part, kind)
        return part

    def get(self, kind: type[T]) -> T:
        part = self.find(kind)
        if part is None:
            raise LookupError(
                f"no feature built before this one provides a {kind.__name__}: check the order in cozegate.app.FEATURES"
            )
        return part
