"""The one SQLite writer: a thread that runs queued units of work, many per transaction.

Whatever work is queued when the thread comes round (inbox inserts, claims, completions, admin
changes) runs in one ``BEGIN IMMEDIATE`` transaction: one fsync and one wake-up of the event loop
serve the whole group. If any unit raises, the group is rolled back and each unit runs again in a
transaction of its own, so a failing unit fails alone and the others still commit. A unit is a
function of the connection only, so running it again after a rollback is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL

from cozegate.storage.engine import sqlite_thread_engine

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_UNITS_PER_TRANSACTION = 256


@dataclass(slots=True)
class _Unit:
    work: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _resolve(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in outcomes:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class SqliteWriter:
    def __init__(self, url: URL) -> None:
        self._engine: Engine = sqlite_thread_engine(url, pool_size=1, isolation_level=None)
        # Take transaction control from pysqlite (SQLAlchemy's recipe) and lock for writing up front.
        event.listen(self._engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    async def submit(self, work: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Unit(work, future, loop))
        return await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._engine.dispose()

    def _run_alone(self, conn: Connection, unit: _Unit) -> tuple[asyncio.Future[Any], bool, Any]:
        try:
            with conn.begin():
                return (unit.future, True, unit.work(conn))
        except Exception as exc:
            return (unit.future, False, exc)

    def _run(self) -> None:
        # The thread's one connection, kept while it works (no pool checkout and reset per transaction). If
        # it cannot be opened, the waiting unit fails with the reason, and the next unit tries again.
        while True:
            try:
                conn = self._engine.connect()
            except Exception as exc:
                unit = self._queue.get()
                if unit is None:
                    return
                with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits any more
                    unit.loop.call_soon_threadsafe(_resolve, [(unit.future, False, exc)])
                continue
            with conn:
                if self._serve(conn):
                    return

    def _serve(self, conn: Connection) -> bool:
        """Run units until the writer closes (True) or the connection breaks (False: a new one is opened)."""
        while True:
            first = self._queue.get()
            if first is None:
                return True
            units = [first]
            stop = False
            while len(units) < MAX_UNITS_PER_TRANSACTION:
                try:
                    unit = self._queue.get_nowait()
                except queue.Empty:
                    break
                if unit is None:
                    stop = True
                    break
                units.append(unit)
            self._run_group(conn, units)
            if stop:
                return True
            if conn.invalidated or conn.closed:
                return False

    def _run_group(self, conn: Connection, units: list[_Unit]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]]
        try:
            with conn.begin():
                outcomes = [(unit.future, True, unit.work(conn)) for unit in units]
        except Exception:
            outcomes = [self._run_alone(conn, unit) for unit in units]
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for unit, outcome in zip(units, outcomes, strict=True):
            by_loop.setdefault(unit.loop, []).append(outcome)
        for loop, results in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits any more
                loop.call_soon_threadsafe(_resolve, results)
