"""Identifiers the way Coze prints them: numeric-string object ids, time-prefixed log ids; all from counters."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Clock:
    """Wall time (Unix seconds, what Coze reports) and a monotonic clock (for delays); replaceable in tests."""

    wall: Callable[[], float] = time.time
    mono: Callable[[], float] = time.monotonic

    def now(self) -> int:
        return int(self.wall())


@dataclass
class IdGenerator:
    """Object ids increase in creation order (message paging relies on that); log ids are unique per request."""

    base: int = 7_400_000_000_000_000_000
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _logs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next(self) -> str:
        return str(self.base + next(self._ids))

    def logid(self) -> str:
        """``20241015100256`` + 20 hex digits, the shape of a real Coze log id."""
        return time.strftime("%Y%m%d%H%M%S") + f"{next(self._logs):020X}"
