"""Handler registry: ``@handlers.on("ticket_created")`` binds an async function to an event type.

A handler asks for what it needs by parameter name (or type): ``event`` always; what else a running
gateway offers (``say``, the tenant's ``coze`` client, ``contexts``, a dialog flow, the ``envelope``)
comes from the injector bound when the app is assembled (``conversations.handler_kit``).

cozegate registers built-in handlers (``message_create``: ask the tenant's bot and reply). Yours
compose with them, or replace them explicitly:

* ``@handlers.before("message_create")`` / ``@handlers.after(...)``: run before the handler, or after
  it succeeded (an exception in either fails the event, which is retried like any failure);
* ``@handlers.around(...)``: wraps the handler; call ``call_next()`` to run it (or don't, to skip it);
* ``@handlers.on("message_create", replace=True)``: yours instead of the built-in. Without
  ``replace=True`` a handler for a type with a built-in is refused when the app is built, so nothing
  is silently replaced.

A handler may run more than once for one event (at-least-once delivery after a crash), so it
should be idempotent; it is never run for a duplicate delivery of an already stored event.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from cozegate.imports import load_object
from cozegate.inbox.model import Event

Handler: TypeAlias = Callable[[Event], Awaitable[None]]
Next: TypeAlias = Callable[[], Awaitable[None]]  # what an ``around`` hook calls to run the handler
UserFunction: TypeAlias = Callable[..., Awaitable[Any]]
Provider: TypeAlias = Callable[[Event], Any]  # a parameter's value for an event (may be awaitable)

ANY_EVENT = "*"
# Event types cozegate enqueues itself (reply delivery, ...); ingress refuses them from outside.
INTERNAL_EVENT_PREFIX = "cozegate."
CALL_NEXT = "call_next"


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help: the event is dead-lettered at once."""


class Injector(Protocol):
    """What a running gateway can hand a handler beyond the event: a provider per parameter, or None.

    Parameters that ask for the same thing get the same (equal) provider, which is called once per
    event: the hooks and the handler of one event share its value (one ``say`` counts every reply)."""

    def provider(self, name: str, annotation: Any) -> Provider | None: ...

    def offers(self) -> list[str]:
        """The parameter names it knows (for error messages)."""


class _NoInjector:
    def provider(self, name: str, annotation: Any) -> Provider | None:
        return None

    def offers(self) -> list[str]:
        return []


@dataclass
class _Slot:
    handler: UserFunction | None = None
    replaces_builtin: bool = False
    builtin: Handler | None = None
    before: list[UserFunction] = field(default_factory=list)
    after: list[UserFunction] = field(default_factory=list)
    around: list[UserFunction] = field(default_factory=list)

    @property
    def has_handler(self) -> bool:
        return self.handler is not None or self.builtin is not None


def _require_async(event_type: str, func: Callable[..., Any]) -> None:
    if not inspect.iscoroutinefunction(func):
        raise TypeError(f"handler for {event_type!r} must be an `async def` function")


class EventHandlers:
    """Which functions handle which event type. ``"*"`` catches types with no handler of their own."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self._bound: dict[str, Handler] = {}
        self._injector: Injector = _NoInjector()

    # -- registering ----------------------------------------------------------------------------
    def on(self, event_type: str, *, replace: bool = False) -> Callable[[UserFunction], UserFunction]:
        def register(func: UserFunction) -> UserFunction:
            self.add(event_type, func, replace=replace)
            return func

        return register

    def add(self, event_type: str, func: UserFunction, *, replace: bool = False) -> None:
        _require_async(event_type, func)
        slot = self._slots.setdefault(event_type, _Slot())
        if slot.handler is not None:
            raise ValueError(f"event type {event_type!r} already has a handler ({slot.handler!r})")
        self._check_builtin(event_type, slot, replace)
        slot.handler, slot.replaces_builtin = func, replace
        self._bound.clear()

    def before(self, event_type: str) -> Callable[[UserFunction], UserFunction]:
        return self._hook(event_type, "before")

    def after(self, event_type: str) -> Callable[[UserFunction], UserFunction]:
        return self._hook(event_type, "after")

    def around(self, event_type: str) -> Callable[[UserFunction], UserFunction]:
        return self._hook(event_type, "around")

    def _hook(self, event_type: str, kind: str) -> Callable[[UserFunction], UserFunction]:
        def register(func: UserFunction) -> UserFunction:
            _require_async(event_type, func)
            getattr(self._slots.setdefault(event_type, _Slot()), kind).append(func)
            self._bound.clear()
            return func

        return register

    def builtin(self, event_type: str, func: Handler) -> None:
        """cozegate's own handler for ``event_type`` (yours composes with it, or replaces it explicitly)."""
        _require_async(event_type, func)
        slot = self._slots.setdefault(event_type, _Slot())
        if slot.builtin is not None:
            raise ValueError(f"event type {event_type!r} has two built-in handlers")
        slot.builtin = func
        self._check_builtin(event_type, slot, slot.replaces_builtin)
        self._bound.clear()

    @staticmethod
    def _check_builtin(event_type: str, slot: _Slot, replace: bool) -> None:
        if slot.builtin is not None and slot.handler is not None and not replace:
            name = getattr(slot.handler, "__qualname__", repr(slot.handler))
            raise ValueError(
                f"event type {event_type!r} has a built-in handler, and {name} was registered for it too: "
                f"use @handlers.on({event_type!r}, replace=True) to replace the built-in, or "
                f"@handlers.before / @handlers.after / @handlers.around({event_type!r}) to run beside it"
            )

    def include(self, other: EventHandlers) -> None:
        for event_type, slot in other._slots.items():
            if slot.handler is not None:
                self.add(event_type, slot.handler, replace=slot.replaces_builtin)
            mine = self._slots.setdefault(event_type, _Slot())
            mine.before += slot.before
            mine.after += slot.after
            mine.around += slot.around
            if slot.builtin is not None:
                self.builtin(event_type, slot.builtin)
        self._bound.clear()

    # -- running --------------------------------------------------------------------------------
    def bind(self, injector: Injector) -> None:
        """Give handlers what they ask for from ``injector``; every handler's parameters are checked now
        (a parameter nobody provides is refused here, not at the first event)."""
        self._injector = injector
        self._bound = {event_type: self._compile(event_type, slot) for event_type, slot in self._slots.items()}

    def resolve(self, event_type: str) -> Handler | None:
        if not self._bound and self._slots:
            self.bind(self._injector)
        return self._bound.get(event_type) or self._bound.get(ANY_EVENT)

    def metric_label(self, event_type: str) -> str:
        """Bounded label value: types with a handler keep their name, the rest are ``other``."""
        slot = self._slots.get(event_type)
        return event_type if slot is not None and slot.has_handler else "other"

    def event_types(self) -> list[str]:
        return sorted(event_type for event_type, slot in self._slots.items() if slot.has_handler)

    def _compile(self, event_type: str, slot: _Slot) -> Handler:
        core: _Step
        if slot.handler is not None:
            core = self._step(slot.handler)
        elif slot.builtin is not None:
            core = _plain(slot.builtin)
        else:  # hooks only: around the catch-all's handler, if there is one
            catch_all = self._slots.get(ANY_EVENT) if event_type != ANY_EVENT else None
            if catch_all is not None and catch_all.handler is not None:
                core = self._step(catch_all.handler)
            elif catch_all is not None and catch_all.builtin is not None:
                core = _plain(catch_all.builtin)
            else:
                core = _nothing
        befores = [self._step(f) for f in slot.before]
        afters = [self._step(f) for f in slot.after]
        run = core
        for hook in reversed(slot.around):
            run = self._around(hook, run)

        async def handle(event: Event) -> None:
            given: dict[Provider, Any] = {}  # one value per provider for the event: every hook gets the same `say`
            for before in befores:
                await before(event, given, None)
            await run(event, given, None)
            for after in afters:
                await after(event, given, None)

        return handle

    def _around(self, hook: UserFunction, inner: _Step) -> _Step:
        call = self._step(hook, call_next=True)

        async def wrapped(event: Event, given: dict[Provider, Any], _: Next | None) -> None:
            async def call_next() -> None:
                await inner(event, given, None)

            await call(event, given, call_next)

        return wrapped

    def _step(self, func: UserFunction, *, call_next: bool = False) -> _Step:
        """``func`` as a step of the chain: its parameters given (the ones before ``/`` by position)."""
        parameters = self._parameters(func, call_next=call_next)

        async def call(event: Event, given: dict[Provider, Any], next_step: Next | None) -> None:
            args: list[Any] = []
            kwargs: dict[str, Any] = {}
            for name, provide, positional in parameters:
                if provide is None:
                    value: Any = next_step
                elif provide is _the_event:
                    value = event
                else:
                    if provide not in given:
                        made = provide(event)
                        given[provide] = await made if inspect.isawaitable(made) else made
                    value = given[provide]
                if positional:
                    args.append(value)
                else:
                    kwargs[name] = value
            await func(*args, **kwargs)

        return call

    def _parameters(self, func: UserFunction, *, call_next: bool) -> list[tuple[str, Provider | None, bool]]:
        """(name, provider, positional-only) per parameter; ``None`` for ``call_next``."""
        found: list[tuple[str, Provider | None, bool]] = []
        signature = inspect.signature(func)
        for index, (name, parameter) in enumerate(signature.parameters.items()):
            if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            positional = parameter.kind is inspect.Parameter.POSITIONAL_ONLY
            annotation = _annotation(func, name, parameter)
            provider: Provider | None
            if name == "event" or annotation is Event:
                provider = _the_event
            elif call_next and name == CALL_NEXT:
                provider = None
            else:
                provider = self._injector.provider(name, annotation)
                if provider is None and index == 0:
                    provider = _the_event  # a handler of the event alone, whatever its parameter's name
                if provider is None:
                    if parameter.default is not inspect.Parameter.empty:
                        continue
                    offered = ", ".join(["event", *self._injector.offers(), *([CALL_NEXT] if call_next else [])])
                    raise TypeError(
                        f"{getattr(func, '__qualname__', func)!r} asks for `{name}`, which no handler is given: "
                        f"ask for {offered}"
                    )
            found.append((name, provider, positional))
        return found


_Step = Callable[[Event, dict[Provider, Any], Next | None], Awaitable[None]]


def _annotation(func: UserFunction, name: str, parameter: inspect.Parameter) -> Any:
    """The parameter's annotation, resolved where it is a string (``from __future__ import annotations``);
    one that names a type the function's module cannot see stays a string (its name still counts)."""
    annotation = parameter.annotation
    if not isinstance(annotation, str):
        return annotation

    class _One:
        __annotations__ = {name: annotation}
        __globals__ = getattr(inspect.unwrap(func), "__globals__", {})

    try:
        return typing.get_type_hints(_One())[name]
    except Exception:
        return annotation


def _the_event(event: Event) -> Event:
    return event


def _plain(handler: Handler) -> _Step:
    async def step(event: Event, given: dict[Provider, Any], _: Next | None) -> None:
        await handler(event)

    return step


async def _nothing(event: Event, given: dict[Provider, Any], _: Next | None) -> None:
    return None


def load_handlers(specs: Iterable[str]) -> EventHandlers:
    """The handler registries named ``module:attribute``, in one registry."""
    combined = EventHandlers()
    for spec in specs:
        combined.include(load_object(spec, EventHandlers))
    return combined
