"""Hooks for library users: run code when a bot enters or leaves a state (after the move is stored)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

from cozegate.lifecycle.model import Transition
from cozegate.lifecycle.states import BotState

log = logging.getLogger(__name__)

Hook = Callable[[Transition], Awaitable[None] | None]


class LifecycleHooks:
    """``hooks.on_enter(BotState.RUNNING)(fn)`` or ``hooks.on_enter(BotState.RUNNING, fn)``; sync or async.

    A hook that raises is logged and does not undo the move: the move is already stored, and a hook
    must not be able to leave a bot half-moved."""

    def __init__(self) -> None:
        self._enter: defaultdict[BotState, list[Hook]] = defaultdict(list)
        self._exit: defaultdict[BotState, list[Hook]] = defaultdict(list)

    def on_enter(self, state: BotState, hook: Hook | None = None) -> Callable[[Hook], Hook]:
        return self._register(self._enter[state], hook)

    def on_exit(self, state: BotState, hook: Hook | None = None) -> Callable[[Hook], Hook]:
        return self._register(self._exit[state], hook)

    @staticmethod
    def _register(hooks: list[Hook], hook: Hook | None) -> Callable[[Hook], Hook]:
        def add(fn: Hook) -> Hook:
            hooks.append(fn)
            return fn

        if hook is not None:
            add(hook)
        return add

    async def fire(self, transition: Transition, limit_seconds: float = 10.0) -> None:
        for hook in [*self._exit[transition.from_state], *self._enter[transition.to_state]]:
            try:
                async with asyncio.timeout(limit_seconds):
                    result = hook(transition)
                    if inspect.isawaitable(result):
                        await result
            except Exception:
                log.exception("lifecycle hook %s failed on %s", getattr(hook, "__name__", hook), transition.trigger)
