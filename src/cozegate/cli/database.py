"""Run one async piece of work against the configured database (for the CLI commands that need it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from cozegate.storage import Database

T = TypeVar("T")


def run_with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """Open the database of the current settings (migrating embedded SQLite), run ``work``, close."""

    import asyncio

    from cozegate.settings import Settings
    from cozegate.storage import Database, create_engine, ensure_schema

    async def main() -> T:
        settings = Settings()
        db = Database(create_engine(settings))
        try:
            await ensure_schema(db.engine, migrate=settings.should_auto_migrate)
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(main())
