"""Bot lifecycle: pending → deploying → running ⇄ scaling → terminating → terminated (and failed)."""

from cozegate.lifecycle.actuator import Actuator, CozeActuator
from cozegate.lifecycle.hooks import LifecycleHooks
from cozegate.lifecycle.manager import BotNotFoundError, ConcurrentChangeError, LifecycleManager, Timeouts
from cozegate.lifecycle.model import BotRecord, Recovery, Release, Transition
from cozegate.lifecycle.states import BotState, IllegalTransitionError, Trigger
from cozegate.lifecycle.store import BotStore

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
