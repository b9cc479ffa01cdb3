"""The audit log: append-only and hash-chained (see ``audit_chain``).

Admin actions, configuration changes, data exports and erasures are recorded with actor, tenant and
request id. Appends are serialized (the SQLite writer thread; a transaction-scoped advisory lock on
PostgreSQL) so that every record links to the one before it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, insert, select, text

from cozegate.compliance.audit_chain import GENESIS, ChainReport, record_hash, verify_chain
from cozegate.compliance.pii import PiiMasker
from cozegate.observability.logging import Masker
from cozegate.storage import Database
from cozegate.storage.schema import audit_log

# pg_advisory_xact_lock key of the audit chain's tail ("cozeaudt" as a number)
_PG_LOCK_KEY = int.from_bytes(b"cozeaudt", "big") & 0x7FFF_FFFF_FFFF_FFFF
_VERIFY_BATCH = 5000


class AuditLog:
    """``mask`` rewrites each record's target and details before it is sealed (default: PII masked)."""

    def __init__(self, db: Database, mask: Masker | None = None) -> None:
        self._db = db
        self._mask: Masker = mask or PiiMasker()

    async def record(
        self,
        *,
        actor: str,
        action: str,
        tenant: str | None = None,
        target: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        entry = {
            "at": time.time(),
            "actor": actor,
            "action": action,
            "tenant": tenant,
            "target": self._mask(target) if target else target,
            "request_id": request_id,
            "details": self._mask(json.dumps(details or {}, sort_keys=True, ensure_ascii=False)),
        }
        await self._db.write(lambda conn: append(conn, entry, postgres=not self._db.is_sqlite))

    async def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        stmt = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        return await self._db.read(lambda conn: [dict(r._mapping) for r in conn.execute(stmt)])

    async def hash_at(self, seq: int) -> str | None:
        """The hash of the record with this seq (to compare with a head kept elsewhere)."""
        stmt = select(audit_log.c.hash).where(audit_log.c.seq == seq)
        return await self._db.read(lambda conn: conn.execute(stmt).scalar())

    async def verify(self) -> ChainReport:
        return await self._db.read(lambda conn: verify_chain(_chain_in_order(conn)))


def append(conn: Connection, entry: dict[str, Any], *, postgres: bool) -> None:
    """Append one record to the chain inside the caller's transaction."""
    if postgres:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    last = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash)
        .where(audit_log.c.seq.is_not(None))
        .order_by(audit_log.c.seq.desc())
        .limit(1)
    ).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last is not None else (1, GENESIS)
    record = {**entry, "seq": seq}
    conn.execute(insert(audit_log).values(**record, prev_hash=prev_hash, hash=record_hash(prev_hash, record)))


def _chain_in_order(conn: Connection) -> Iterator[dict[str, Any]]:
    """Records without a place in the chain first (each one a problem), then the chain by ``seq``."""
    c = audit_log.c
    outside = c.seq.is_(None) | (c.seq < 1) | c.hash.is_(None)  # e.g. a forged row with seq 0 or -7
    unsealed = conn.execute(select(audit_log).where(outside).order_by(c.id))
    yield from (dict(row) for row in unsealed.mappings())
    after = 0
    while True:
        sealed = select(audit_log).where(audit_log.c.seq > after, audit_log.c.hash.is_not(None))
        rows = conn.execute(sealed.order_by(audit_log.c.seq).limit(_VERIFY_BATCH)).mappings().all()
        if not rows:
            return
        yield from (dict(row) for row in rows)
        after = rows[-1]["seq"]
