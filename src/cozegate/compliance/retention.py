"""Retention: per tenant, data older than ``retention_days`` is deleted (dead letters are blanked)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Select, delete, select, update

from cozegate.compliance.subject_rights import ERASED_PAYLOAD
from cozegate.conversations.context.store import ContextStore
from cozegate.storage import Database
from cozegate.storage.schema import context_records, coze_chats, inbox_events, replies, transcript_messages
from cozegate.tenants.live import LiveTenants

log = logging.getLogger(__name__)
DAY = 86_400.0


async def purge_expired(
    db: Database, contexts: ContextStore, retention_days: Mapping[str, int], now: float | None = None
) -> dict[str, dict[str, int]]:
    """Apply each tenant's retention; returns what was removed per tenant."""
    now = time.time() if now is None else now
    removed: dict[str, dict[str, int]] = {}
    for tenant, days in retention_days.items():
        cutoff = now - days * DAY
        counts = await db.write(functools.partial(_purge, tenant=tenant, cutoff=cutoff))
        c = context_records.c
        stale = select(c.scope, c.key).where(c.tenant == tenant, c.updated_at < cutoff)
        old = await db.read(functools.partial(_rows, stale))
        deleted = 0
        for scope, key in old:  # through the store, so the hot cache forgets them too; not if written since
            deleted += await contexts.delete(tenant, scope, key, older_than=cutoff)
        removed[tenant] = {**counts, "contexts": deleted}
    return removed


def _rows(stmt: Select[Any], conn: Connection) -> list[Any]:
    return list(conn.execute(stmt).all())


def _purge(conn: Connection, *, tenant: str, cutoff: float) -> dict[str, Any]:
    t, r, e, c = transcript_messages.c, replies.c, inbox_events.c, coze_chats.c
    lines = conn.execute(delete(transcript_messages).where(t.tenant == tenant, t.created_at < cutoff)).rowcount
    conn.execute(delete(coze_chats).where(c.tenant == tenant, c.started_at < cutoff))
    reply_count = conn.execute(delete(replies).where(r.tenant == tenant, r.created_at < cutoff)).rowcount
    finished = conn.execute(
        delete(inbox_events).where(e.tenant == tenant, e.received_at < cutoff, e.status.in_(("done", "discarded")))
    ).rowcount
    dead = conn.execute(
        update(inbox_events)
        .where(e.tenant == tenant, e.received_at < cutoff, e.status == "dead")
        .values(status="discarded", payload=ERASED_PAYLOAD, last_error=None, attempt_log="[]", finished_at=time.time())
    ).rowcount
    return {"transcript_lines": lines, "replies": reply_count, "events": finished, "dead_letters": dead}


class RetentionSchedule:
    """Each tenant's ``retention_days`` applied now (``purge_now``, the admin API) or every interval
    (``enforce``, a background loop of the server)."""

    def __init__(self, db: Database, contexts: ContextStore, tenants: LiveTenants, interval_seconds: float) -> None:
        self._db = db
        self._contexts = contexts
        self._tenants = tenants
        self._interval = interval_seconds

    async def purge_now(self) -> dict[str, dict[str, int]]:
        return await purge_expired(self._db, self._contexts, self._tenants.current.retention_days())

    async def enforce(self) -> None:
        while True:
            if self._tenants.current.retention_days():
                try:
                    removed = await self.purge_now()
                    log.info("retention enforced", extra={"removed": removed})
                except Exception:
                    log.exception("retention purge failed; it runs again in %.0f s", self._interval)
            await asyncio.sleep(self._interval)
