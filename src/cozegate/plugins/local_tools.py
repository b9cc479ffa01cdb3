"""Tools a bot may call that run inside cozegate (Coze ``requires_action`` → ``submit_tool_outputs``).

``@tools.tool("lookup_order")`` registers an async function taking the call's JSON arguments as
keyword arguments; what it returns (a string, or anything JSON-serialisable) goes back to Coze.
The plugin SDK (typed tools served over HTTP) builds on this registry.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

ToolFunction = Callable[..., Awaitable[Any]]


class UnknownToolError(LookupError):
    pass


class LocalTools:
    def __init__(self) -> None:
        self._tools: dict[str, ToolFunction] = {}

    def tool(self, name: str) -> Callable[[ToolFunction], ToolFunction]:
        def register(func: ToolFunction) -> ToolFunction:
            if not inspect.iscoroutinefunction(func):
                raise TypeError(f"tool {name!r} must be an `async def` function")
            if name in self._tools:
                raise ValueError(f"a tool named {name!r} is already registered")
            self._tools[name] = func
            return func

        return register

    def include(self, other: LocalTools) -> None:
        for name, func in other._tools.items():
            self.tool(name)(func)

    def names(self) -> list[str]:
        return sorted(self._tools)

    async def __call__(self, name: str, arguments: dict[str, Any]) -> str:
        func = self._tools.get(name)
        if func is None:
            raise UnknownToolError(f"no local tool named {name!r}")
        result = await func(**arguments)
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
