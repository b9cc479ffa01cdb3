"""Bot lifecycle: pending → deploying → running ⇄ scaling → terminating → terminated (and failed)."""

from typing import TYPE_CHECKING

from cozegate.imports import lazy_exports

if TYPE_CHECKING:
    from cozegate.lifecycle.actuator import Actuator, CozeActuator
    from cozegate.lifecycle.hooks import LifecycleHooks
    from cozegate.lifecycle.manager import BotNotFoundError, ConcurrentChangeError, LifecycleManager, Timeouts
    from cozegate.lifecycle.model import BotRecord, Recovery, Release, Transition
    from cozegate.lifecycle.states import BotState, IllegalTransitionError, Trigger
    from cozegate.lifecycle.store import BotStore

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Actuator": "actuator",
        "CozeActuator": "actuator",
        "LifecycleHooks": "hooks",
        "BotNotFoundError": "manager",
        "ConcurrentChangeError": "manager",
        "LifecycleManager": "manager",
        "Timeouts": "manager",
        "BotRecord": "model",
        "Recovery": "model",
        "Release": "model",
        "Transition": "model",
        "BotState": "states",
        "IllegalTransitionError": "states",
        "Trigger": "states",
        "BotStore": "store",
    },
)

__all__ = [
    "Actuator",
    "BotNotFoundError",
    "BotRecord",
    "BotState",
    "BotStore",
    "ConcurrentChangeError",
    "CozeActuator",
    "IllegalTransitionError",
    "LifecycleHooks",
    "LifecycleManager",
    "Recovery",
    "Release",
    "Timeouts",
    "Transition",
    "Trigger",
]
