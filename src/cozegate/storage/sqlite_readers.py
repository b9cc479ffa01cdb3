"""SQLite reads on a few threads of their own, each holding a plain pysqlite connection.

A read is one hop to a reader thread and one back: the unit of work runs there on a synchronous
connection. (Through aiosqlite every statement, fetch and cursor close was a hop of its own, plus a
greenlet switch per ``run_sync``.) WAL lets the readers run beside the one writer thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL

from cozegate.storage.engine import apply_sqlite_pragmas

T = TypeVar("T")

READER_THREADS = 4


class SqliteReaders:
    def __init__(self, url: URL, threads: int = READER_THREADS) -> None:
        self._engine: Engine = create_sync_engine(
            url.set(drivername="sqlite+pysqlite"),
            pool_size=threads,
            max_overflow=0,
            connect_args={"check_same_thread": False},
        )
        event.listen(self._engine, "connect", apply_sqlite_pragmas)
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sqlite-reader")

    async def submit(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._run, work)

    def _run(self, work: Callable[[Connection], Any]) -> Any:
        with self._engine.connect() as conn:
            return work(conn)

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        self._engine.dispose()
