"""Test handlers loaded into servers by ``COZEGATE_HANDLER_MODULES``.

``message_create`` is idempotent: it upserts one row per (tenant, key) into a sink database
(``SINK_DATABASE_URL``) and counts deliveries, so a test can tell effects from redeliveries.
"""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import Column, Integer, MetaData, String, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cozegate import Event, EventHandlers

handlers = EventHandlers()
metadata = MetaData()
sink = Table(
    "sink",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("dedup_key", String(255), primary_key=True),
    Column("deliveries", Integer, nullable=False),
)
_engine: AsyncEngine | None = None
_lock = asyncio.Lock()


async def sink_engine() -> AsyncEngine:
    global _engine
    async with _lock:
        if _engine is None:
            engine = create_async_engine(os.environ["SINK_DATABASE_URL"], pool_size=1, max_overflow=0)
            async with engine.begin() as conn:
                await conn.execute(text("PRAGMA journal_mode=WAL"))
                await conn.run_sync(metadata.create_all)
            _engine = engine
    return _engine


@handlers.on("message_create", replace=True)
async def record(event: Event) -> None:
    engine = await sink_engine()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO sink (tenant, dedup_key, deliveries) VALUES (:t, :k, 1) "
                "ON CONFLICT (tenant, dedup_key) DO UPDATE SET deliveries = sink.deliveries + 1"
            ),
            {"t": event.tenant, "k": event.dedup_key},
        )


@handlers.on("always_fail")
async def always_fail(event: Event) -> None:
    raise RuntimeError(f"downstream refused {event.dedup_key}")


@handlers.on("fail_twice")
async def fail_twice(event: Event) -> None:
    if event.attempt <= 2:
        raise ConnectionError(f"attempt {event.attempt} failed")
    await record(event)


@handlers.on("slow")
async def slow(event: Event) -> None:
    await asyncio.sleep(float(event.payload.get("seconds", 1.0)))
    await record(event)


@handlers.on("needs_fix")
async def needs_fix(event: Event) -> None:
    """Fails until the test creates the file named by ``SINK_FIXED_FLAG`` (the downstream is "fixed")."""
    from pathlib import Path

    if not Path(os.environ["SINK_FIXED_FLAG"]).exists():
        raise RuntimeError("downstream unavailable")
    await record(event)
