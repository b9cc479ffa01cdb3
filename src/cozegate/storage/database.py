"""``Database``: run a unit of work in one transaction, on whichever backend is configured.

Work is a plain function of a SQLAlchemy ``Connection`` (Core statements, no ORM), so the same code
runs on both backends:

* PostgreSQL: on a pooled asyncpg connection of the async engine (``run_sync``), many at once.
* SQLite: every write runs on one dedicated writer thread holding the only writing connection. One
  thread hop per transaction (not one per statement) and no lock contention between connections,
  so SQLite's sleeping busy handler never decides latency. Reads use the async engine (WAL lets
  them run beside the writer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine

from cozegate.storage.engine import apply_sqlite_pragmas

T = TypeVar("T")


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._writer: ThreadPoolExecutor | None = None
        self._sync_engine: Engine | None = None
        if self.dialect == "sqlite":
            url = engine.url.set(drivername="sqlite+pysqlite")
            self._sync_engine = create_sync_engine(
                url, pool_size=1, max_overflow=0, connect_args={"check_same_thread": False}
            )
            event.listen(self._sync_engine, "connect", apply_sqlite_pragmas)
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one read-write transaction; committed when it returns, rolled back if it raises."""
        if self._writer is not None:
            return await asyncio.get_running_loop().run_in_executor(self._writer, self._write_sqlite, work)
        async with self.engine.begin() as conn:
            return await conn.run_sync(work)

    def _write_sqlite(self, work: Callable[[Connection], T]) -> T:
        assert self._sync_engine is not None
        with self._sync_engine.begin() as conn:
            return work(conn)

    async def read(self, work: Callable[[Connection], T]) -> T:
        async with self.engine.connect() as conn:
            return await conn.run_sync(work)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        await self.engine.dispose()
