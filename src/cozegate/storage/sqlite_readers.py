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

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from cozegate.storage.engine import sqlite_thread_engine

T = TypeVar("T")

READER_THREADS = 4


class SqliteReaders:
    def __init__(self, url: URL, threads: int = READER_THREADS) -> None:
        self._engine: Engine = sqlite_thread_engine(url, pool_size=threads)
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sqlite-reader")

    async def submit(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._run, work)

    def _run(self, work: Callable[[Connection], Any]) -> Any:
        with self._engine.connect() as conn:
            return work(conn)

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        self._engine.dispose()
