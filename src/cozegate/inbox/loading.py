"""Load user objects named ``module:attribute``: handler registries, tools, plugins."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from cozegate.inbox.handlers import EventHandlers

T = TypeVar("T")


def load_object(spec: str, kind: type[T]) -> T:
    """Import ``package.module:attribute``: an instance of ``kind``, or a function returning one.

    The working directory is importable, as with ``python -m`` (so ``examples.orders_plugin:plugin``
    works from the repository root).
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{spec!r} must look like `package.module:attribute`")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    target = getattr(importlib.import_module(module_name), attribute, None)
    if target is None:
        raise ValueError(f"{module_name} has no attribute {attribute!r}")
    if callable(target) and not isinstance(target, kind):
        target = target()
    if not isinstance(target, kind):
        raise TypeError(f"{spec} is not a {kind.__name__} (nor a function returning one)")
    return target


def load_handlers(specs: Iterable[str]) -> EventHandlers:
    combined = EventHandlers()
    for spec in specs:
        combined.include(load_object(spec, EventHandlers))
    return combined
