"""Load user handler registries named ``module:attribute`` (``COZEGATE_HANDLER_MODULES``)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from cozegate.inbox.handlers import EventHandlers


def load_handlers(specs: Iterable[str]) -> EventHandlers:
    combined = EventHandlers()
    for spec in specs:
        module_name, _, attribute = spec.partition(":")
        if not module_name or not attribute:
            raise ValueError(f"handler module {spec!r} must look like `package.module:handlers`")
        target = getattr(importlib.import_module(module_name), attribute)
        if callable(target) and not isinstance(target, EventHandlers):
            target = target()
        if not isinstance(target, EventHandlers):
            raise TypeError(f"{spec} is not an EventHandlers (nor a function returning one)")
        combined.include(target)
    return combined
