"""bot lifecycle (state, history), probe ledger and health incidents

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bots",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("coze_bot_id", sa.String(64)),
        sa.Column("connectors", sa.Text, nullable=False),
        sa.Column("replicas", sa.Integer, nullable=False),
        sa.Column("previous", sa.Text),
        sa.Column("stable", sa.Text),
        sa.Column("published", sa.Text),
        sa.Column("recovery", sa.String(16), nullable=False),
        sa.Column("fallback_reply", sa.Text, nullable=False),
        sa.Column("deadline_at", sa.Float),
        sa.Column("driver", sa.String(64)),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "bot_transitions",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("bot", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("replicas", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_bot_transitions_bot", "bot_transitions", ["bot", "id"])
    op.create_table(
        "bot_probes",
        sa.Column("bot", sa.String(64), primary_key=True),
        sa.Column("release", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("canary_failures", sa.Integer, nullable=False),
        sa.Column("last_ok_at", sa.Float),
        sa.Column("probed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "health_incidents",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("bot", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("action_result", sa.Text),
        sa.Column("route", sa.Text),
        sa.Column("last_ok_at", sa.Float),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("closed_at", sa.Float),
        sa.Column("open_alert_at", sa.Float),
        sa.Column("close_alert_at", sa.Float),
    )
    op.create_index(
        "uq_health_incidents_open_bot",
        "health_incidents",
        ["bot"],
        unique=True,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_health_incidents_open_bot", "health_incidents")
    op.drop_table("health_incidents")
    op.drop_table("bot_probes")
    op.drop_index("ix_bot_transitions_bot", "bot_transitions")
    op.drop_table("bot_transitions")
    op.drop_table("bots")
