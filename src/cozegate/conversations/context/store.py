"""Versioned context records: per (tenant, conversation) context and per (tenant, user) profile.

Every write is a compare-and-set on the record's version: of two writers that read version 3, one
commits version 4 and the other gets ``ContextConflictError`` (retryable: read again, reapply), never a
silent overwrite. ``update`` does that read-modify-write loop for you. Reads come from the hot cache
when it has the record (see ``cache``), otherwise from the database, which is the truth.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cozegate.conversations.context.cache import ContextCache
from cozegate.storage import Database
from cozegate.storage.schema import context_records

Scope = Literal["conversation", "user"]
Data = dict[str, Any]
Updater = Callable[[Data], Data | Awaitable[Data]]


class ContextConflictError(Exception):
    """Somebody else wrote the record since it was read; read it again and reapply the change."""

    retryable = True


@dataclass(frozen=True)
class Versioned:
    data: Data = field(default_factory=dict)
    version: int = 0  # 0: the record does not exist yet


class ContextStore:
    def __init__(self, db: Database, cache: ContextCache) -> None:
        self._db = db
        self._cache = cache

    # -- the two kinds of record ---------------------------------------------------------------

    async def conversation(self, tenant: str, conversation_id: str) -> Versioned:
        return await self.get(tenant, "conversation", conversation_id)

    async def profile(self, tenant: str, user_id: str) -> Versioned:
        return await self.get(tenant, "user", user_id)

    # -- generic -------------------------------------------------------------------------------

    async def get(self, tenant: str, scope: Scope, key: str) -> Versioned:
        cache_key = _cache_key(tenant, scope, key)
        cached, generation = await self._cache.get(cache_key)
        if cached is not None:
            return Versioned(json.loads(cached[1]), cached[0])
        where = _pk(tenant, scope, key)
        row = await self._db.read(
            lambda conn: conn.execute(select(context_records.c.version, context_records.c.data).where(where)).first()
        )
        if row is None:
            return Versioned()
        await self._cache.fill(cache_key, (row.version, row.data), generation)
        return Versioned(json.loads(row.data), row.version)

    async def put(
        self,
        tenant: str,
        scope: Scope,
        key: str,
        data: Data,
        *,
        expected_version: int,
        subject: str | None = None,
    ) -> Versioned:
        """Write ``data`` as the next version if the record is still at ``expected_version``."""
        text = json.dumps(data, ensure_ascii=False, sort_keys=True)
        version = expected_version + 1
        if scope == "user":
            subject = key
        cache_key = _cache_key(tenant, scope, key)
        mark = await self._cache.mark_writing(cache_key)
        try:
            written = await self._db.write(
                lambda conn: _compare_and_set(conn, tenant, scope, key, text, expected_version, subject)
            )
        except Exception:  # the transaction failed: nothing was written
            await self._cache.forget(cache_key, mark)
            raise
        # (cancelled: the commit may still land, so the mark stays until it expires)
        if not written:
            await self._cache.forget(cache_key, mark)
            raise ContextConflictError(f"{scope} {key!r} of {tenant!r} changed since version {expected_version}")
        await self._cache.stored(cache_key, (version, text), mark)
        return Versioned(data, version)

    async def update(
        self, tenant: str, scope: Scope, key: str, change: Updater, *, subject: str | None = None, attempts: int = 8
    ) -> Versioned:
        """Read, apply ``change`` to a copy of the data, write; on a conflict read again (up to ``attempts``)."""
        for _ in range(attempts - 1):
            try:
                return await self._apply(tenant, scope, key, change, subject)
            except ContextConflictError:
                continue
        return await self._apply(tenant, scope, key, change, subject)

    async def _apply(self, tenant: str, scope: Scope, key: str, change: Updater, subject: str | None) -> Versioned:
        current = await self.get(tenant, scope, key)
        result = change(json.loads(json.dumps(current.data)))
        new = await result if isinstance(result, Awaitable) else result
        return await self.put(tenant, scope, key, new, expected_version=current.version, subject=subject)

    async def delete(self, tenant: str, scope: Scope, key: str, *, older_than: float | None = None) -> bool:
        """Delete the record (only if last written before ``older_than``, when given); True if it was."""
        cache_key = _cache_key(tenant, scope, key)
        condition = _pk(tenant, scope, key)
        if older_than is not None:
            condition = and_(condition, context_records.c.updated_at < older_than)
        mark = await self._cache.mark_writing(cache_key)
        deleted = await self._db.write(lambda conn: conn.execute(delete(context_records).where(condition)).rowcount)
        await self._cache.forget(cache_key, mark)
        return bool(deleted)

    # -- subject rights --------------------------------------------------------------------------

    async def about(self, tenant: str, subject: str) -> list[dict[str, Any]]:
        """Every record about a user: their profile and the contexts of their conversations."""
        stmt = (
            select(context_records)
            .where(context_records.c.tenant == tenant, context_records.c.subject == subject)
            .order_by(context_records.c.scope, context_records.c.key)
        )
        rows = await self._db.read(lambda conn: conn.execute(stmt).mappings().all())
        return [{**row, "data": json.loads(row["data"])} for row in rows]

    async def records(self, tenant: str, scope: Scope, keys: list[str]) -> list[dict[str, Any]]:
        """The records of these keys (e.g. the contexts of a user's own conversations, whoever wrote them)."""
        if not keys:
            return []
        c = context_records.c
        stmt = select(context_records).where(c.tenant == tenant, c.scope == scope, c.key.in_(keys)).order_by(c.key)
        rows = await self._db.read(lambda conn: conn.execute(stmt).mappings().all())
        return [{**row, "data": json.loads(row["data"])} for row in rows]

    async def erase(self, tenant: str, subject: str) -> int:
        records = await self.about(tenant, subject)
        for record in records:
            await self.delete(tenant, record["scope"], record["key"])
        return len(records)


def _cache_key(tenant: str, scope: str, key: str) -> str:
    return f"{tenant}\x1f{scope}\x1f{key}"


def _pk(tenant: str, scope: str, key: str) -> Any:
    c = context_records.c
    return and_(c.tenant == tenant, c.scope == scope, c.key == key)


def _compare_and_set(
    conn: Connection, tenant: str, scope: str, key: str, text: str, expected: int, subject: str | None
) -> bool:
    now = time.time()
    if expected == 0:
        try:
            with conn.begin_nested():  # a savepoint: a duplicate must not spoil the caller's transaction
                conn.execute(
                    insert(context_records).values(
                        tenant=tenant, scope=scope, key=key, subject=subject, version=1, data=text, updated_at=now
                    )
                )
        except IntegrityError:
            return False
        return True
    values: dict[str, Any] = {"version": expected + 1, "data": text, "updated_at": now}
    if subject is not None:
        values["subject"] = subject
    done = conn.execute(
        update(context_records).where(_pk(tenant, scope, key), context_records.c.version == expected).values(**values)
    )
    return done.rowcount == 1
