"""versioned conversation contexts and user profiles

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "context_records",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(16), primary_key=True),  # conversation | user
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("subject", sa.String(255)),  # the user the record is about (export, erasure)
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_context_records_subject", "context_records", ["tenant", "subject"])


def downgrade() -> None:
    op.drop_index("ix_context_records_subject", "context_records")
    op.drop_table("context_records")
