"""per-conversation ordering, Coze conversation map, transcripts, replies

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("inbox_events") as batch:
        batch.add_column(sa.Column("ordering_key", sa.String(300)))
    # Only unfinished events, so "does an earlier event of this conversation still wait?" is one seek.
    unfinished = sa.text("status IN ('pending', 'processing')")
    op.create_index(
        "ix_inbox_events_unfinished_ordering",
        "inbox_events",
        ["ordering_key", "id"],
        sqlite_where=unfinished,
        postgresql_where=unfinished,
    )
    unordered = sa.text("ordering_key IS NULL AND status IN ('pending', 'processing')")
    op.create_index(
        "ix_inbox_events_unfinished_unordered",
        "inbox_events",
        ["available_at", "id"],
        sqlite_where=unordered,
        postgresql_where=unordered,
    )
    op.create_table(
        "coze_conversations",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("external_id", sa.String(255), primary_key=True),
        sa.Column("coze_conversation_id", sa.String(64), nullable=False),
        sa.Column("bot_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "transcript_messages",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("source_event", sa.String(255), nullable=False),
        sa.Column("coze_chat_id", sa.String(64)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_transcript_messages_conversation", "transcript_messages", ["tenant", "conversation_id", "id"])
    op.create_table(
        "replies",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("source_event", sa.String(255), primary_key=True),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("coze_chat_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("replies")
    op.drop_index("ix_transcript_messages_conversation", table_name="transcript_messages")
    op.drop_table("transcript_messages")
    op.drop_table("coze_conversations")
    op.drop_index("ix_inbox_events_unfinished_unordered", table_name="inbox_events")
    op.drop_index("ix_inbox_events_unfinished_ordering", table_name="inbox_events")
    with op.batch_alter_table("inbox_events") as batch:
        batch.drop_column("ordering_key")
