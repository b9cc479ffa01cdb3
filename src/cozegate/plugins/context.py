"""What a running tool may know about its call: request id, time left, and whether it was cancelled."""

from __future__ import annotations

import time
from dataclasses import dataclass


class ToolCancelled(BaseException):
    """Raised inside a tool whose call ran out of time; it derives from BaseException so that a tool's
    ``except Exception`` does not swallow it."""


@dataclass
class ToolContext:
    """Injected into a tool that declares a parameter annotated ``ToolContext``.

    Sync tools that wait on something slow can poll :meth:`check` (or :attr:`cancelled`) to stop
    early; pure-Python work is also interrupted when the deadline passes.
    """

    request_id: str
    plugin: str
    tool: str
    deadline: float  # time.monotonic() value
    bot_id: str | None = None  # X-AIPlugin-Bot-ID, when Coze sends it
    conversation_id: str | None = None  # X-AIPlugin-Conversation-ID
    _cancelled: bool = False  # set by the event loop, read by the tool's thread (a plain flag suffices)

    def remaining(self) -> float:
        """Seconds left before the call's deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def check(self) -> None:
        """Raise ``ToolCancelled`` if the call was cancelled (its deadline passed)."""
        if self._cancelled:
            raise ToolCancelled

    def cancel(self) -> None:
        self._cancelled = True
