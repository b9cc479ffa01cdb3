"""the W3C trace context an inbox event was stored under (its handling continues that trace); indexes of
the time ranges the operator console's per-minute series read; console sessions ended by logging out

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_events") as batch:
        batch.add_column(sa.Column("trace_parent", sa.String(64)))
    finished = sa.text("finished_at IS NOT NULL")
    op.create_index(
        "ix_inbox_events_status_finished_at",
        "inbox_events",
        ["status", "finished_at"],
        sqlite_where=finished,
        postgresql_where=finished,
    )
    failed = sa.text("attempt_log != '[]'")
    op.create_index(
        "ix_inbox_events_failed_last_touch",
        "inbox_events",
        [sa.text("coalesce(finished_at, available_at)")],
        sqlite_where=failed,
        postgresql_where=failed,
    )
    op.create_table(
        "console_revoked_sessions",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("console_revoked_sessions")
    op.drop_index("ix_inbox_events_failed_last_touch", "inbox_events")
    op.drop_index("ix_inbox_events_status_finished_at", "inbox_events")
    with op.batch_alter_table("inbox_events") as batch:
        batch.drop_column("trace_parent")
