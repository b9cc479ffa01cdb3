"""the Coze chat each event's handling started (conversation, chat id, status), so that a later attempt
resumes that chat instead of posting the user's message to Coze again

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coze_chats",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("source_event", sa.String(255), primary_key=True),
        sa.Column("coze_conversation_id", sa.String(64), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("bot_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("started_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("coze_chats")
