"""cozegate: put Coze bots safely into production.

The package face is light: ``import cozegate`` (or ``cozegate.plugins``, what a plugin author needs)
loads no server, database or vector store; ``create_app``, ``Event`` and ``EventHandlers`` are
imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cozegate.app import create_app
    from cozegate.inbox import Event, EventHandlers
    from cozegate.settings import Settings

__all__ = ["Event", "EventHandlers", "Settings", "create_app"]
__version__ = "0.1.0"

_LAZY = {
    "create_app": ("cozegate.app", "create_app"),
    "Event": ("cozegate.inbox", "Event"),
    "EventHandlers": ("cozegate.inbox", "EventHandlers"),
    "Settings": ("cozegate.settings", "Settings"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'cozegate' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value
