"""The handler registry: handlers compose with a built-in one (before, after, around) or replace it
explicitly, never silently; parameters are given by name or type, and a missing one is refused at bind."""

from __future__ import annotations

from typing import Any

import pytest

from cozegate.inbox import Event, EventHandlers
from cozegate.inbox.handlers import Next, Provider


def event(event_type: str = "message_create") -> Event:
    return Event(1, "t", "k", event_type, "{}", "rid", 0.0, 1)


class Kit:
    """A stand-in injector: ``greeting`` by name, ``Kit`` by type."""

    def provider(self, name: str, annotation: Any) -> Provider | None:
        if name == "greeting":
            return lambda e: f"hello {e.tenant}"
        if annotation is Kit:
            return lambda e: self
        return None

    def offers(self) -> list[str]:
        return ["greeting"]


async def run(handlers: EventHandlers, kind: str = "message_create") -> None:
    handler = handlers.resolve(kind)
    assert handler is not None
    await handler(event(kind))


async def test_hooks_run_around_the_built_in_in_order() -> None:
    calls: list[str] = []
    handlers = EventHandlers()

    @handlers.before("message_create")
    async def check(event: Event) -> None:
        calls.append("before")

    @handlers.after("message_create")
    async def count(event: Event) -> None:
        calls.append("after")

    @handlers.around("message_create")
    async def time_it(event: Event, call_next: Next) -> None:
        calls.append("around in")
        await call_next()
        calls.append("around out")

    async def builtin(event: Event) -> None:
        calls.append("built-in")

    handlers.builtin("message_create", builtin)
    await run(handlers)
    assert calls == ["before", "around in", "built-in", "around out", "after"]


async def test_an_around_hook_may_skip_the_handler() -> None:
    calls: list[str] = []
    handlers = EventHandlers()

    @handlers.around("message_create")
    async def closed(event: Event, call_next: Next) -> None:
        calls.append("closed today")

    async def builtin(event: Event) -> None:
        calls.append("built-in")

    handlers.builtin("message_create", builtin)
    await run(handlers)
    assert calls == ["closed today"]


async def test_replacing_a_built_in_is_explicit() -> None:
    calls: list[str] = []
    mine = EventHandlers()

    @mine.on("message_create", replace=True)
    async def own(event: Event) -> None:
        calls.append("mine")

    async def builtin(event: Event) -> None:
        calls.append("built-in")

    app = EventHandlers()
    app.include(mine)
    app.builtin("message_create", builtin)
    await run(app)
    assert calls == ["mine"]

    silent = EventHandlers()

    @silent.on("message_create")
    async def again(event: Event) -> None: ...

    refused = EventHandlers()
    refused.include(silent)
    with pytest.raises(ValueError, match=r"replace=True.*before / @handlers.after / @handlers.around"):
        refused.builtin("message_create", builtin)


async def test_parameters_are_given_by_name_or_type() -> None:
    seen: dict[str, Any] = {}
    handlers = EventHandlers()

    @handlers.on("ticket")
    async def handle(greeting: str, kit: Kit, e: Event) -> None:
        seen.update(greeting=greeting, kit=kit, event_type=e.event_type)

    kit = Kit()
    handlers.bind(kit)
    await run(handlers, "ticket")
    assert seen == {"greeting": "hello t", "kit": kit, "event_type": "ticket"}


def test_a_parameter_nobody_gives_is_refused_when_bound() -> None:
    handlers = EventHandlers()

    @handlers.on("ticket")
    async def handle(event: Event, databse: object) -> None: ...

    with pytest.raises(TypeError, match=r"asks for `databse`.*ask for event, greeting"):
        handlers.bind(Kit())


def test_only_async_functions_are_handlers() -> None:
    with pytest.raises(TypeError, match="async def"):
        EventHandlers().add("x", lambda event: None)  # type: ignore[arg-type,return-value]


def test_types_with_only_hooks_have_no_handler() -> None:
    handlers = EventHandlers()

    @handlers.before("audit")
    async def note(event: Event) -> None: ...

    assert handlers.event_types() == []
    assert handlers.metric_label("audit") == "other"


async def test_every_function_of_one_event_gets_the_same_given_value() -> None:
    made: list[object] = []
    seen: list[object] = []

    class Counter:
        def provider(self, name: str, annotation: Any) -> Provider | None:
            return self.make if name == "say" else None

        def make(self, event: Event) -> object:
            made.append(object())
            return made[-1]

        def offers(self) -> list[str]:
            return ["say"]

    handlers = EventHandlers()

    @handlers.before("ticket")
    async def hello(event: Event, say: object) -> None:
        seen.append(say)

    @handlers.on("ticket")
    async def handle(event: Event, say: object) -> None:
        seen.append(say)

    handlers.bind(Counter())
    await run(handlers, "ticket")
    await run(handlers, "ticket")
    assert len(made) == 2  # one per event...
    assert seen == [made[0], made[0], made[1], made[1]]  # ...shared by every function of its chain


async def test_old_style_handlers_still_work() -> None:
    seen: list[str] = []
    handlers = EventHandlers()

    @handlers.on("a")
    async def named_otherwise(evt) -> None:  # type: ignore[no-untyped-def]
        seen.append(f"a {evt.event_type}")

    @handlers.on("b")
    async def positional_only(e: Event, /) -> None:
        seen.append(f"b {e.event_type}")

    @handlers.on("c")
    async def with_extras(event: Event, *args: object, **kwargs: object) -> None:
        seen.append(f"c {event.event_type}")

    handlers.bind(Kit())
    for kind in ("a", "b", "c"):
        await run(handlers, kind)
    assert seen == ["a a", "b b", "c c"]


async def test_hooks_alone_wrap_the_catch_all() -> None:
    calls: list[str] = []
    handlers = EventHandlers()

    @handlers.on("*")
    async def anything(event: Event) -> None:
        calls.append(f"catch-all {event.event_type}")

    @handlers.after("ticket")
    async def count(event: Event) -> None:
        calls.append("after")

    await run(handlers, "ticket")
    await run(handlers, "other")
    assert calls == ["catch-all ticket", "after", "catch-all other"]


def test_an_annotation_the_module_cannot_see_does_not_hide_the_others() -> None:
    from tests.support import kit_handlers_types

    handlers = EventHandlers()
    handlers.on("x")(kit_handlers_types.handler)
    handlers.bind(Kit())  # `kit: Kit` resolved although another parameter's annotation names a hidden type
