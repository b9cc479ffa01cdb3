"""Table definitions (SQLAlchemy Core). Migrations in ``storage/migrations`` create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only gives AUTOINCREMENT-like rowids to "INTEGER PRIMARY KEY"; PostgreSQL wants BIGINT.
_Id = BigInteger().with_variant(Integer(), "sqlite")

inbox_events = Table(
    "inbox_events",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("dedup_key", String(255), nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("payload", Text, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("received_at", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", Float, nullable=False),
    Column("lease_owner", String(64)),
    Column("last_error", Text),
    Column("attempt_log", Text, nullable=False, default="[]"),
    Column("finished_at", Float),
    UniqueConstraint("tenant", "dedup_key", name="uq_inbox_events_tenant_dedup_key"),
    Index("ix_inbox_events_status_available_at", "status", "available_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("tenant", String(64)),
    Column("target", String(255)),
    Column("request_id", String(64)),
    Column("details", Text, nullable=False, default="{}"),
)
