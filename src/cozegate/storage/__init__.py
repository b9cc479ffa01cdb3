"""Database engine, migrations and Redis connection: the only place that knows which backend is in use."""

from cozegate.storage.database import Database
from cozegate.storage.engine import backend_name, create_engine
from cozegate.storage.migrate import SchemaOutOfDateError, ensure_schema, upgrade_to_head
from cozegate.storage.redis import create_redis

__all__ = [
    "Database",
    "SchemaOutOfDateError",
    "backend_name",
    "create_engine",
    "create_redis",
    "ensure_schema",
    "upgrade_to_head",
]
