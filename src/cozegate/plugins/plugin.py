"""``Plugin``: a named set of typed tools plus what guards them (auth, IP allow-list, time budget, limits).

    orders = Plugin("orders", description="Look up shop orders.", auth=ServiceToken(env="ORDERS_TOKEN"))

    @orders.tool
    def lookup_order(order_id: Annotated[str, Field(description="Order number, e.g. A-1001")]) -> Order:
        "Find an order by its number."

Served under ``/plugins/{plugin}/{tool}`` by cozegate (``COZEGATE_PLUGINS``) or on its own
(``cozegate plugins serve module:plugin``); ``cozegate plugins openapi`` writes what Coze imports.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeVar, overload

from prometheus_client import Counter, Histogram

from cozegate.observability import metrics
from cozegate.plugins.auth import IpAllowList, TokenAuth
from cozegate.plugins.execution import ConcurrencySlots, ToolThreads
from cozegate.plugins.openapi import check_exportable
from cozegate.plugins.tool_spec import ToolSpec, spec_from_function

F = TypeVar("F", bound=Callable[..., Any])

PLUGIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,29}$")
DEFAULT_DEADLINE_SECONDS = 2.5
DEFAULT_MAX_CONCURRENCY = 32
DEFAULT_MAX_BODY_BYTES = 1 << 20


class _NoAuth:
    def __repr__(self) -> str:
        return "NO_AUTH"


NO_AUTH: Final = _NoAuth()
"""Pass as ``auth=`` to serve a plugin without any token (only behind something that authenticates)."""


class ToolError(Exception):
    """Raise from a tool for an outcome the bot should read and explain (order not found, out of stock).

    Answered with HTTP 200 and ``{"error": {"code", "message", "request_id"}}``: Coze treats any other
    status as a failed call and does not show the body to the bot's model.
    """

    def __init__(self, message: str, *, code: str = "tool_error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class RegisteredTool:
    plugin: str
    spec: ToolSpec
    deadline_seconds: float
    slots: ConcurrencySlots
    outcomes: Callable[[str], Counter]
    seconds: Histogram


class Plugin:
    def __init__(
        self,
        name: str,
        *,
        description: str,
        auth: TokenAuth | _NoAuth,
        title: str | None = None,
        version: str = "1.0.0",
        allow_ips: Iterable[str] | None = None,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        threads: int | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not PLUGIN_NAME.match(name):
            raise ValueError(f"plugin name {name!r}: letters, digits and _, starting with a letter, at most 30")
        if not description.strip():
            raise ValueError("describe the plugin: Coze shows it and the bot's model reads it")
        if deadline_seconds <= 0 or max_concurrency < 1:
            raise ValueError("deadline_seconds must be > 0 and max_concurrency >= 1")
        self.name = name
        self.description = description.strip()
        self.title = title or name
        self.version = version
        self.auth = auth
        self.allow_ips = IpAllowList(allow_ips) if allow_ips is not None else None
        self.deadline_seconds = deadline_seconds
        self.max_concurrency = max_concurrency
        self.max_body_bytes = max_body_bytes
        self.threads = ToolThreads(threads or min(32, (os.cpu_count() or 1) + 4), name)
        self.tools: dict[str, RegisteredTool] = {}

    @overload
    def tool(self, function: F) -> F: ...

    @overload
    def tool(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        deadline_seconds: float | None = None,
        max_concurrency: int | None = None,
    ) -> Callable[[F], F]: ...

    def tool(
        self,
        function: F | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        deadline_seconds: float | None = None,
        max_concurrency: int | None = None,
    ) -> F | Callable[[F], F]:
        """Register a typed function (sync or async) as a tool; the function itself is returned unchanged."""

        def register(func: F) -> F:
            spec = spec_from_function(
                func,
                name=name,
                description=description,
                deadline_seconds=deadline_seconds,
                max_concurrency=max_concurrency,
            )
            check_exportable(spec)
            if spec.name in self.tools:
                raise ValueError(f"plugin {self.name!r} already has a tool named {spec.name!r}")
            self.tools[spec.name] = RegisteredTool(
                plugin=self.name,
                spec=spec,
                deadline_seconds=spec.deadline_seconds or self.deadline_seconds,
                slots=ConcurrencySlots(spec.max_concurrency or self.max_concurrency),
                outcomes=functools.cache(functools.partial(metrics.PLUGIN_CALLS.labels, self.name, spec.name)),
                seconds=metrics.PLUGIN_CALL_SECONDS.labels(self.name, spec.name),
            )
            return func

        return register(function) if function is not None else register

    def check_ready(self) -> None:
        """Raise with a clear message if the plugin cannot serve (no tools, tokens not configured)."""
        if not self.tools:
            raise RuntimeError(f"plugin {self.name!r} has no tools; decorate functions with @{self.name}.tool")
        if isinstance(self.auth, TokenAuth):
            self.auth.check_configured()

    def close(self) -> None:
        self.threads.close()
