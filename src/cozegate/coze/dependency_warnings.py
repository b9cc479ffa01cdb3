"""Warnings of dependencies that are not ours to fix and would print on every start."""

from __future__ import annotations

import warnings


def silence_dependency_warnings() -> None:
    # cozepy imports authlib.jose; authlib forces its deprecation warnings to "always" on import, so our
    # filter has to come after that import to win.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning, message="authlib.jose module is deprecated")
