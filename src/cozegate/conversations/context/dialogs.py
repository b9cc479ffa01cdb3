"""Dialog state machines: states and guarded transitions declared on a class, persisted per conversation.

    class RefundFlow(DialogFlow):
        idle = State(initial=True)
        awaiting_order = State(timeout_seconds=600)          # back to the initial state after 10 min
        confirming = State()
        refunded = State(final=True)

        ask = Transition(idle, awaiting_order)
        give_order = Transition(awaiting_order, confirming, guard=order_exists)
        confirm = Transition(confirming, refunded)
        cancel = Transition([awaiting_order, confirming], idle)

        def on_enter_confirming(self, data, order_id):       # hooks may change the flow's data
            data["order_id"] = order_id

    flow = RefundFlow(store, tenant, conversation_id)
    await flow.fire("ask")

The state, the time it was entered and the flow's data live in the conversation's context record
(``dialogs.<FlowName>``) and are written with compare-and-set: a concurrent change makes ``fire``
start over from the new state, so hooks must only compute (do side effects after ``fire`` returns).
An event that the current state does not allow raises ``InvalidTransitionError`` naming the events
it does allow; a guard that says no raises ``GuardRejectedError``. A state with ``timeout_seconds``
that is left waiting longer falls back to its ``on_timeout`` state (default: the initial one) before
the next event is handled.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from cozegate.conversations.context.store import ContextConflictError, ContextStore, Data

Guard = Callable[..., bool | Awaitable[bool]]
FIRE_ATTEMPTS = 8


class DialogDefinitionError(TypeError):
    pass


class InvalidTransitionError(Exception):
    pass


class GuardRejectedError(Exception):
    pass


class State:
    def __init__(
        self,
        *,
        initial: bool = False,
        final: bool = False,
        timeout_seconds: float | None = None,
        on_timeout: State | None = None,
    ) -> None:
        self.initial, self.final = initial, final
        self.timeout_seconds, self.on_timeout = timeout_seconds, on_timeout
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"State({self.name})"


class Transition:
    def __init__(self, source: State | Iterable[State], target: State, *, guard: Guard | None = None) -> None:
        self.sources = (source,) if isinstance(source, State) else tuple(source)
        self.target = target
        self.guard = guard
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name


@dataclass(frozen=True)
class Step:
    """What ``fire`` did: from which state to which, the flow's data after it, and whether a timeout came first."""

    event: str
    source: str
    target: str
    data: Data
    timed_out: bool = False


class DialogFlow:
    states: ClassVar[dict[str, State]]
    transitions: ClassVar[dict[str, Transition]]
    initial: ClassVar[State]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.states = {n: v for n, v in vars(cls).items() if isinstance(v, State)}
        cls.transitions = {n: v for n, v in vars(cls).items() if isinstance(v, Transition)}
        initials = [s for s in cls.states.values() if s.initial]
        if len(initials) != 1:
            raise DialogDefinitionError(f"{cls.__name__} needs exactly one State(initial=True), has {len(initials)}")
        cls.initial = initials[0]
        known = set(cls.states.values())
        for transition in cls.transitions.values():
            strangers = [s for s in (*transition.sources, transition.target) if s not in known]
            if strangers:
                raise DialogDefinitionError(f"{cls.__name__}.{transition.name} uses states of another flow")
            finals = [s.name for s in transition.sources if s.final]
            if finals:
                raise DialogDefinitionError(f"{cls.__name__}.{transition.name} leaves final state {finals[0]}")
        for state in cls.states.values():
            if state.on_timeout is not None and state.on_timeout not in known:
                raise DialogDefinitionError(f"{cls.__name__}.{state.name}: on_timeout is a state of another flow")

    def __init__(
        self,
        store: ContextStore,
        tenant: str,
        conversation_id: str,
        *,
        subject: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._tenant = tenant
        self._conversation = conversation_id
        self._subject = subject
        self._clock = clock

    # -- reading -------------------------------------------------------------------------------

    async def state(self) -> str:
        snapshot, _ = await self._load()
        return str(self._after_timeout(snapshot)[0]["state"])

    async def data(self) -> Data:
        snapshot, _ = await self._load()
        data: Data = self._after_timeout(snapshot)[0]["data"]
        return data

    async def allowed(self) -> list[str]:
        """The events the current state accepts."""
        return self._events_from(await self.state())

    # -- changing ------------------------------------------------------------------------------

    async def fire(self, event: str, **kwargs: Any) -> Step:
        transition = self.transitions.get(event)
        if transition is None:
            raise InvalidTransitionError(
                f"{type(self).__name__} has no event {event!r}; its events are {sorted(self.transitions)}"
            )
        for attempt in range(FIRE_ATTEMPTS):
            try:
                return await self._fire_once(transition, kwargs)
            except ContextConflictError:
                if attempt == FIRE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def reset(self) -> None:
        """Back to the initial state with empty data."""
        now = self._clock()

        def clear(context: Data) -> Data:
            context.setdefault("dialogs", {})[type(self).__name__] = _snapshot(self.initial.name, now, {})
            return context

        await self._store.update(self._tenant, "conversation", self._conversation, clear, subject=self._subject)

    async def _fire_once(self, transition: Transition, kwargs: dict[str, Any]) -> Step:
        current = await self._store.conversation(self._tenant, self._conversation)
        context = current.data
        snapshot, timed_out = self._after_timeout(self._snapshot_in(context))
        source = self.states[snapshot["state"]]
        if source not in transition.sources:
            allowed = self._events_from(source.name)
            raise InvalidTransitionError(
                f"{type(self).__name__}: cannot {transition.name!r} from {source.name!r}; "
                f"from {source.name!r} the events are {allowed or 'none (final state)'}"
            )
        data: Data = dict(snapshot["data"])
        if transition.guard is not None and not await _call(transition.guard, data, **kwargs):
            raise GuardRejectedError(
                f"{type(self).__name__}: {transition.name!r} refused by its guard in {source.name!r}"
            )
        await self._hook(f"on_exit_{source.name}", data, kwargs)
        await self._hook(f"on_enter_{transition.target.name}", data, kwargs)
        context.setdefault("dialogs", {})[type(self).__name__] = _snapshot(transition.target.name, self._clock(), data)
        await self._store.put(
            self._tenant,
            "conversation",
            self._conversation,
            context,
            expected_version=current.version,
            subject=self._subject,
        )
        return Step(transition.name, source.name, transition.target.name, data, timed_out)

    # -- helpers -------------------------------------------------------------------------------

    async def _load(self) -> tuple[Data, int]:
        current = await self._store.conversation(self._tenant, self._conversation)
        return self._snapshot_in(current.data), current.version

    def _snapshot_in(self, context: Data) -> Data:
        stored = context.get("dialogs", {}).get(type(self).__name__)
        if stored is None or stored.get("state") not in self.states:
            return _snapshot(self.initial.name, self._clock(), {})
        return dict(stored)

    def _after_timeout(self, snapshot: Data) -> tuple[Data, bool]:
        """Follow timeouts (a fallback state may itself have timed out since) to the state in force now."""
        timed_out = False
        for _ in range(len(self.states)):
            state = self.states[snapshot["state"]]
            if state.timeout_seconds is None or self._clock() - snapshot["entered_at"] <= state.timeout_seconds:
                break
            fallback = state.on_timeout or self.initial
            data = snapshot["data"] if fallback is not self.initial else {}
            snapshot, timed_out = _snapshot(fallback.name, snapshot["entered_at"] + state.timeout_seconds, data), True
        return snapshot, timed_out

    def _events_from(self, state_name: str) -> list[str]:
        state = self.states[state_name]
        return sorted(name for name, t in self.transitions.items() if state in t.sources)

    async def _hook(self, name: str, data: Data, kwargs: dict[str, Any]) -> None:
        hook = getattr(self, name, None)
        if hook is not None:
            await _call(hook, data, **kwargs)


def _snapshot(state: str, entered_at: float, data: Data) -> Data:
    return {"state": state, "entered_at": entered_at, "data": data}


async def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call with the keyword arguments it declares (all of them if it takes ``**kwargs``), awaiting if needed."""
    parameters = inspect.signature(function).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in parameters}
    result = function(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result
