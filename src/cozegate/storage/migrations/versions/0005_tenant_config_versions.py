"""tenant configuration versions (the database source of the configuration center)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tenant_config_versions",
        sa.Column("version", _Id, primary_key=True, autoincrement=True),
        sa.Column("document", sa.Text, nullable=False),  # the whole tenants document, JSON
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(64)),
    )


def downgrade() -> None:
    op.drop_table("tenant_config_versions")
