"""knowledge: source leases and cursors, documents, vector ledger, chunks

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_sources",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("cursor", sa.Text),
        sa.Column("last_summary", sa.Text),
        sa.Column("synced_at", sa.Float),
        sa.Column("requested_at", sa.Float),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed_at", sa.Float),
    )
    op.create_table(
        "knowledge_documents",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("document", sa.String(512), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("index_name", sa.String(128), nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("synced_at", sa.Float, nullable=False),
    )
    op.create_table(
        "knowledge_vectors",
        sa.Column("chunk_id", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("document", sa.String(512), nullable=False),
    )
    op.create_index("ix_knowledge_vectors_source", "knowledge_vectors", ["tenant", "source"])
    op.create_table(
        "knowledge_chunks",
        sa.Column("chunk_id", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("document", sa.String(512), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("section", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_knowledge_chunks_document", "knowledge_chunks", ["tenant", "source", "document"])


def downgrade() -> None:
    op.drop_index("ix_knowledge_chunks_document", "knowledge_chunks")
    op.drop_table("knowledge_chunks")
    op.drop_index("ix_knowledge_vectors_source", "knowledge_vectors")
    op.drop_table("knowledge_vectors")
    op.drop_table("knowledge_documents")
    op.drop_table("knowledge_sources")
