"""The database engine: the one place that knows whether SQLite or PostgreSQL is in use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from cozegate.settings import Settings


def apply_sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer; FULL: a commit is on disk before we acknowledge it.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def sqlite_thread_engine(url: URL, pool_size: int, **connect_args: Any) -> Engine:
    """A synchronous pysqlite engine for connections used from threads of their own (the writer, the
    readers), with the project's pragmas on every connection."""
    engine = create_sync_engine(
        url.set(drivername="sqlite+pysqlite"),
        pool_size=pool_size,
        max_overflow=0,
        connect_args={"check_same_thread": False, **connect_args},
    )
    event.listen(engine, "connect", apply_sqlite_pragmas)
    return engine


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the async engine for the configured backend."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        # Reads only (writes go through Database's writer thread); WAL lets them run beside the writer.
        engine = create_async_engine(url, pool_size=4, max_overflow=0, pool_timeout=60)
        event.listen(engine.sync_engine, "connect", apply_sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if settings.database_schema:
        connect_args["server_settings"] = {"search_path": settings.database_schema}
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args=connect_args)


def backend_name(engine: AsyncEngine) -> str:
    """``sqlite`` or ``postgresql``."""
    return engine.dialect.name
