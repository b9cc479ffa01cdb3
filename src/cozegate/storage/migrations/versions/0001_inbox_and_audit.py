"""inbox events and audit log

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inbox_events",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("available_at", sa.Float, nullable=False),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("last_error", sa.Text),
        sa.Column("attempt_log", sa.Text, nullable=False, server_default="[]"),
        sa.Column("finished_at", sa.Float),
        sa.UniqueConstraint("tenant", "dedup_key", name="uq_inbox_events_tenant_dedup_key"),
    )
    op.create_index("ix_inbox_events_status_available_at", "inbox_events", ["status", "available_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64)),
        sa.Column("target", sa.String(255)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_index("ix_inbox_events_status_available_at", table_name="inbox_events")
    op.drop_table("inbox_events")
