"""Read-side data of the console's overview: per-minute series of the whole cluster, from the inbox table.

SQLAlchemy Core statements that run on SQLite and PostgreSQL alike. Per minute of the window:

- ``received``: events whose ``received_at`` falls in it;
- ``processed``: events finished ``done`` in it (by ``finished_at``);
- ``p50`` / ``p95``: nearest-rank percentiles of ``finished_at - received_at`` of those, in seconds
  (window functions, exact; ``None`` for a minute without finished events);
- ``failed_attempts``: entries of ``attempt_log`` whose ``at`` falls in it;
- ``dead_letters``: events dead now whose last attempt (``finished_at``) fell in it.

The window is the last ``minutes`` whole minutes, the current (partial) one included. Percentiles and
attempt logs are computed from at most the window's rows; a result is kept ``cache_seconds`` so that
several open consoles share one set of queries.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, and_, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from cozegate.inbox.model import Status
from cozegate.storage import Database
from cozegate.storage.schema import inbox_events as t

MINUTE = 60


class _MinuteIndex(FunctionElement[int]):
    """``floor(seconds / 60)`` of a non-negative number of seconds, as an integer, on every backend."""

    type = Integer()
    name = "minute_index"
    inherit_cache = True


@compiles(_MinuteIndex)
def _minute_index_default(element: _MinuteIndex, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR(({compiler.process(element.clauses, **kw)}) / {MINUTE}) AS INTEGER)"


@compiles(_MinuteIndex, "sqlite")
def _minute_index_sqlite(element: _MinuteIndex, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's floor() needs its optional math functions; CAST truncates, the same for values >= 0.
    return f"CAST(({compiler.process(element.clauses, **kw)}) / {MINUTE} AS INTEGER)"


def minute_index(seconds_since_start: ColumnElement[float]) -> _MinuteIndex:
    return _MinuteIndex(seconds_since_start)


@dataclass(frozen=True, slots=True)
class Window:
    start: float  # the first minute's start (Unix seconds, a whole minute)
    minutes: int

    @property
    def end(self) -> float:
        return self.start + self.minutes * MINUTE

    @classmethod
    def ending_at(cls, now: float, minutes: int) -> Window:
        current = int(now // MINUTE) * MINUTE
        return cls(float(current - (minutes - 1) * MINUTE), minutes)

    def index(self, at: float) -> int | None:
        i = int((at - self.start) // MINUTE)
        return i if 0 <= i < self.minutes else None


def _in_window(column: ColumnElement[float], window: Window) -> ColumnElement[bool]:
    return and_(column >= window.start, column < window.end)


def _counts_by_minute(conn: Connection, column: Any, window: Window, *conditions: Any) -> list[int]:
    # The minute is computed in a subquery: PostgreSQL would not see a GROUP BY expression with its own
    # bound parameter as the selected one.
    rows = select(minute_index(column - window.start).label("minute")).where(_in_window(column, window), *conditions)
    minutes = rows.subquery("minutes")
    stmt = select(minutes.c.minute, func.count()).group_by(minutes.c.minute)
    counts = [0] * window.minutes
    for index, count in conn.execute(stmt):
        if index is not None and 0 <= int(index) < window.minutes:
            counts[int(index)] += int(count)
    return counts


def _latency_percentiles(conn: Connection, window: Window) -> tuple[list[float | None], list[float | None]]:
    """Nearest-rank p50 and p95 per minute: the row ranked ceil(p * n) (integer arithmetic, both backends)."""
    done = (
        select(
            minute_index(t.c.finished_at - window.start).label("minute"),
            (t.c.finished_at - t.c.received_at).label("latency"),
        )
        .where(t.c.status == Status.DONE.value, _in_window(t.c.finished_at, window))
        .subquery("done")
    )
    ranked = select(
        done.c.minute,
        done.c.latency,
        func.row_number().over(partition_by=done.c.minute, order_by=done.c.latency).label("rn"),
        func.count().over(partition_by=done.c.minute).label("n"),
    ).subquery("ranked")
    rank50 = (ranked.c.n * 50 + 99) // 100
    rank95 = (ranked.c.n * 95 + 99) // 100
    stmt = select(ranked.c.minute, ranked.c.rn, rank50, rank95, ranked.c.latency).where(
        or_(ranked.c.rn == rank50, ranked.c.rn == rank95)
    )
    p50: list[float | None] = [None] * window.minutes
    p95: list[float | None] = [None] * window.minutes
    for index, rn, r50, r95, value in conn.execute(stmt):
        if index is None or not 0 <= int(index) < window.minutes:
            continue
        seconds = max(0.0, float(value))
        if rn == r50:
            p50[int(index)] = seconds
        if rn == r95:
            p95[int(index)] = seconds
    return p50, p95


def _failed_attempts(conn: Connection, window: Window) -> list[int]:
    """Failed attempts per minute, from the attempt logs of the rows touched since the window began.

    Every failure's ``at`` is at most the row's ``finished_at`` (done, dead, discarded) or, while it is
    unfinished, its ``available_at`` (the retry time, a replay, or the lease end), so the rows to read
    are those whose ``coalesce(finished_at, available_at)`` is in or after the window.
    """
    last_touch = func.coalesce(t.c.finished_at, t.c.available_at)
    stmt = select(t.c.attempt_log).where(t.c.attempt_log != "[]", last_touch >= window.start)
    counts = [0] * window.minutes
    for (raw,) in conn.execute(stmt):
        try:
            entries = json.loads(raw)
        except ValueError:
            continue
        for entry in entries if isinstance(entries, list) else []:
            at = entry.get("at") if isinstance(entry, dict) else None
            if isinstance(at, int | float):
                index = window.index(float(at))
                if index is not None:
                    counts[index] += 1
    return counts


@dataclass(frozen=True, slots=True)
class Stats:
    window: Window
    received: list[int]
    processed: list[int]
    p50: list[float | None]
    p95: list[float | None]
    failed_attempts: list[int]
    dead_letters: list[int]

    def to_json(self) -> dict[str, Any]:
        return {
            "window": {"start": self.window.start, "minutes": self.window.minutes, "step_seconds": MINUTE},
            "minutes": [self.window.start + i * MINUTE for i in range(self.window.minutes)],
            "received": self.received,
            "processed": self.processed,
            "latency_p50_seconds": self.p50,
            "latency_p95_seconds": self.p95,
            "failed_attempts": self.failed_attempts,
            "dead_letters": self.dead_letters,
            "totals": {
                "received": sum(self.received),
                "processed": sum(self.processed),
                "failed_attempts": sum(self.failed_attempts),
                "dead_letters": sum(self.dead_letters),
            },
        }


_FINISHED = (Status.DONE.value, Status.DEAD.value, Status.DISCARDED.value)
_UNFINISHED = (Status.PENDING.value, Status.PROCESSING.value)


def _may_have_arrived_since(start: float) -> ColumnElement[bool]:
    """Rows that can have ``received_at >= start``, found through indexes the ack path does not write:
    unfinished rows (the backlog), and finished rows with ``finished_at >= start`` (an event finishes
    after it arrives). An index on ``received_at`` itself would cost every webhook ack an index insert."""
    return or_(
        and_(t.c.status.in_(_FINISHED), t.c.finished_at >= start),
        t.c.status.in_(_UNFINISHED),
    )


def read_stats(conn: Connection, window: Window) -> Stats:
    p50, p95 = _latency_percentiles(conn, window)
    return Stats(
        window=window,
        received=_counts_by_minute(conn, t.c.received_at, window, _may_have_arrived_since(window.start)),
        processed=_counts_by_minute(conn, t.c.finished_at, window, t.c.status == Status.DONE.value),
        p50=p50,
        p95=p95,
        failed_attempts=_failed_attempts(conn, window),
        dead_letters=_counts_by_minute(conn, t.c.finished_at, window, t.c.status == Status.DEAD.value),
    )


class ConsoleQueries:
    """The overview's series, cached briefly (one set of queries per ``cache_seconds`` per process)."""

    def __init__(
        self,
        db: Database,
        *,
        minutes: int = 60,
        cache_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._minutes = minutes
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cached: tuple[float, Stats] | None = None
        self._lock = asyncio.Lock()

    async def stats(self) -> Stats:
        async with self._lock:
            now = self._clock()
            if self._cached is not None and now - self._cached[0] < self._cache_seconds:
                return self._cached[1]
            window = Window.ending_at(now, self._minutes)
            stats = await self._db.read(lambda conn: read_stats(conn, window))
            self._cached = (now, stats)
            return stats
