"""Audit log of admin actions (append-only table).

The tamper-evident hash chain, PII masking of records and ``cozegate audit verify`` belong to the
compliance issue; every admin action already lands here with actor, tenant and request id.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import insert, select

from cozegate.storage import Database
from cozegate.storage.schema import audit_log


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

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
        stmt = insert(audit_log).values(
            at=time.time(),
            actor=actor,
            action=action,
            tenant=tenant,
            target=target,
            request_id=request_id,
            details=json.dumps(details or {}, sort_keys=True),
        )
        await self._db.write(lambda conn: conn.execute(stmt))

    async def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        stmt = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        return await self._db.read(lambda conn: [dict(r._mapping) for r in conn.execute(stmt)])
