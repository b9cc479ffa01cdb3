"""Load user handler registries named ``module:attribute`` (``COZEGATE_HANDLER_MODULES``)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TypeVar

from cozegate.inbox.handlers import EventHandlers

T = TypeVar("T")


def load_object(spec: str, kind: type[T]) -> T:
    """Import ``package.module:attribute``: an instance of ``kind``, or a function returning one."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{spec!r} must look like `package.module:attribute`")
    target = getattr(importlib.import_module(module_name), attribute)
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
