"""Read a backend's tables directly (tests' own view of what was durably stored)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from cozegate.storage import Database, create_engine
from cozegate.storage.schema import audit_log, inbox_events
from tests.conftest import Backend


async def _rows(backend: Backend, table: Any) -> list[dict[str, Any]]:
    db = Database(create_engine(backend.settings()))
    try:
        return await db.read(lambda conn: [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.id))])
    finally:
        await db.close()


def inbox_rows(backend: Backend) -> list[dict[str, Any]]:
    return asyncio.run(_rows(backend, inbox_events))


def audit_rows(backend: Backend) -> list[dict[str, Any]]:
    return asyncio.run(_rows(backend, audit_log))


def sink_rows(backend: Backend) -> dict[tuple[str, str], int]:
    import sqlite3

    path = backend.tmp / "sink.db"
    if not path.exists():
        return {}
    with sqlite3.connect(path) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sink'").fetchone():
            return {}  # the handler creates the table on its first event
        return {(t, k): n for t, k, n in conn.execute("SELECT tenant, dedup_key, deliveries FROM sink")}
