"""audit log hash chain: sequence number, previous hash and own hash of every record

Revision ID: 0003
Revises: 0002
"""

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _digest(prev_hash: str, record: dict[str, Any]) -> str:
    # A frozen copy of cozegate.compliance.audit_chain.record_hash (migrations never import app code).
    fields = ("seq", "actor", "action", "tenant", "target", "request_id", "details")
    content = [record["seq"], repr(float(record["at"])), *(record[f] for f in fields[1:])]
    canonical = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger))
        batch.add_column(sa.Column("prev_hash", sa.String(64)))
        batch.add_column(sa.Column("hash", sa.String(64)))
    bind = op.get_bind()
    query = "SELECT id, at, actor, action, tenant, target, request_id, details FROM audit_log ORDER BY id"
    prev = GENESIS
    for seq, row in enumerate(bind.execute(sa.text(query)).mappings().all(), start=1):
        digest = _digest(prev, {**row, "seq": seq})
        bind.execute(
            sa.text("UPDATE audit_log SET seq = :seq, prev_hash = :prev, hash = :hash WHERE id = :id"),
            {"seq": seq, "prev": prev, "hash": digest, "id": row["id"]},
        )
        prev = digest
    op.create_index("ux_audit_log_seq", "audit_log", ["seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_audit_log_seq", "audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
