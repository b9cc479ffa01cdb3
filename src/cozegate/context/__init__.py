"""Conversation state: versioned contexts and profiles (``store``), their hot cache, dialog state machines."""

from cozegate.context.cache import ContextCache, MemoryContextCache, RedisContextCache
from cozegate.context.dialogs import (
    DialogDefinitionError,
    DialogFlow,
    GuardRejectedError,
    InvalidTransitionError,
    State,
    Step,
    Transition,
)
from cozegate.context.store import ContextConflictError, ContextStore, Versioned

__all__ = [
    "ContextCache",
    "ContextConflictError",
    "ContextStore",
    "DialogDefinitionError",
    "DialogFlow",
    "GuardRejectedError",
    "InvalidTransitionError",
    "MemoryContextCache",
    "RedisContextCache",
    "State",
    "Step",
    "Transition",
    "Versioned",
]
