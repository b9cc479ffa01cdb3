"""the user a Coze conversation mapping belongs to (chat proxy ownership, subject rights)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coze_conversations") as batch:
        batch.add_column(sa.Column("user_id", sa.String(255)))
    op.create_index("ix_coze_conversations_user", "coze_conversations", ["tenant", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_coze_conversations_user", "coze_conversations")
    with op.batch_alter_table("coze_conversations") as batch:
        batch.drop_column("user_id")
