"""``Database``: run a unit of work in one transaction, on whichever backend is configured.

Work is a plain function of a SQLAlchemy ``Connection`` (Core statements, no ORM), so the same code
runs on both backends:

* PostgreSQL: on a pooled asyncpg connection of the async engine (``run_sync``), many at once.
* SQLite: every write runs on the one writer thread (``SqliteWriter``) holding the only writing
  connection, grouped with whatever other writes are queued into one transaction. No lock
  contention between connections, so SQLite's sleeping busy handler never decides latency. Reads
  run on a few reader threads of their own (``SqliteReaders``; WAL lets them run beside the writer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from cozegate.storage.sqlite_readers import SqliteReaders
from cozegate.storage.sqlite_writer import SqliteWriter

T = TypeVar("T")


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._writer = SqliteWriter(engine.url) if self.dialect == "sqlite" else None
        self._readers = SqliteReaders(engine.url) if self.dialect == "sqlite" else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a read-write transaction; committed when it returns, rolled back if it raises."""
        if self._writer is not None:
            return await self._writer.submit(work)
        async with self.engine.begin() as conn:
            return await conn.run_sync(work)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a connection for reading (its changes, if any, are not committed)."""
        if self._readers is not None:
            return await self._readers.submit(work)
        async with self.engine.connect() as conn:
            return await conn.run_sync(work)

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.to_thread(self._writer.close)
        if self._readers is not None:
            await asyncio.to_thread(self._readers.close)
        await self.engine.dispose()
