"""Versioned conversation contexts and user profiles (``store``), their hot cache, dialog state machines."""

from cozegate.conversations.context.cache import ContextCache, MemoryContextCache, RedisContextCache
from cozegate.conversations.context.dialogs import (
    DialogDefinitionError,
    DialogFlow,
    GuardRejectedError,
    InvalidTransitionError,
    State,
    Step,
    Transition,
)
from cozegate.conversations.context.store import ContextConflictError, ContextStore, Versioned

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
