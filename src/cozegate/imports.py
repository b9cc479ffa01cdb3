"""Importing on demand: user objects named ``module:attribute`` (handler registries, tools, plugins),
and package faces that import what they name on first use (PEP 562), so that importing one light
module of a package (a constant, an enum the CLI shows) does not import the whole package."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

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


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__``: ``exports`` maps each public name to the module of the
    package that defines it (``"model"`` for ``<package>.model``). Import the same names under
    ``TYPE_CHECKING`` too, so type checkers see them."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        globals_of_package = importlib.import_module(package).__dict__
        globals_of_package[name] = value  # the next access is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(importlib.import_module(package).__dict__))

    return __getattr__, __dir__
