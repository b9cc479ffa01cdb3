"""Conversation state: versioned contexts and profiles (``store``), their hot cache, dialog state machines."""

from cozegate.context.cache import ContextCache, MemoryContextCache, RedisContextCache
from cozegate.context.store import ContextConflictError, ContextStore, Versioned

__all__ = [
    "ContextCache",
    "ContextConflictError",
    "ContextStore",
    "MemoryContextCache",
    "RedisContextCache",
    "Versioned",
]
