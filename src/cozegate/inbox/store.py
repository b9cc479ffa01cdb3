"""Durable inbox table access: SQLAlchemy Core statements, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, bindparam, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from cozegate.inbox.model import Event, NewEvent, Status, StoredEvent, SubmitOutcome
from cozegate.storage import Database
from cozegate.storage.schema import coze_chats
from cozegate.storage.schema import inbox_events as t

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished attempt: ``DONE``, or back to ``PENDING`` at ``retry_at``, or ``DEAD``."""

    event_id: int
    owner: str
    status: Status
    finished_at: float
    retry_at: float | None = None
    error: str | None = None
    attempt_log: str | None = None
    work: tuple[Callable[[Connection], object], ...] = ()  # committed with it (``Event.on_done``)


class InboxStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        self._insert = (
            insert(t)
            .on_conflict_do_nothing(index_elements=[t.c.tenant, t.c.dedup_key])
            .returning(t.c.tenant, t.c.dedup_key)
        )
        # PostgreSQL: replicas skip rows another replica is claiming instead of queueing behind them.
        postgres = db.dialect == "postgresql"
        lock = "FOR UPDATE OF e SKIP LOCKED" if postgres else ""
        # SQLite's planner prefers the status index here; point it at the partial indexes.
        by_ordering = "" if postgres else "INDEXED BY ix_inbox_events_unfinished_ordering"
        by_unordered = "" if postgres else "INDEXED BY ix_inbox_events_unfinished_unordered"
        self._claim = text(
            _CLAIM_SQL.format(
                _UNFINISHED=_UNFINISHED,
                _LEASED_COLUMNS=_LEASED_COLUMNS,
                lock=lock,
                by_ordering=by_ordering,
                by_unordered=by_unordered,
            )
        )
        self._lease_new = text(
            _LEASE_NEW_SQL.format(_UNFINISHED=_UNFINISHED, _LEASED_COLUMNS=_LEASED_COLUMNS)
        ).bindparams(bindparam("keys", expanding=True))
        self._done = (
            update(t)
            .where(
                t.c.id.in_(bindparam("ids", expanding=True)),
                t.c.lease_owner == bindparam("owner"),
                t.c.status == Status.PROCESSING.value,
            )
            .values(status=Status.DONE.value, lease_owner=None, finished_at=bindparam("b_finished_at"))
            .returning(t.c.id)
        )

    # -- ingestion ------------------------------------------------------------------------------
    async def insert_batch(self, events: Sequence[NewEvent]) -> list[SubmitOutcome]:
        """Store new events in one transaction; duplicates (stored or within the batch) are not stored."""
        unique: dict[tuple[str, str], NewEvent] = {}
        for e in events:
            unique.setdefault((e.tenant, e.dedup_key), e)
        inserted = await self.db.write(lambda conn: self.insert_in(conn, list(unique.values())))
        outcomes = []
        for e in events:
            key = (e.tenant, e.dedup_key)
            if key in inserted:
                inserted.discard(key)  # later copies of the same key in this batch are duplicates
                outcomes.append(SubmitOutcome.ACCEPTED)
            else:
                outcomes.append(SubmitOutcome.DUPLICATE)
        return outcomes

    def insert_in(self, conn: Connection, events: list[NewEvent]) -> set[tuple[str, str]]:
        """Insert inside a caller's transaction (an outbox write beside other rows); returns the new keys."""
        if self.db.is_sqlite:
            return _insert_sqlite(conn, events)
        return self._insert_returning(conn, events)

    def _insert_returning(self, conn: Connection, events: list[NewEvent]) -> set[tuple[str, str]]:
        """PostgreSQL: one multi-row ``INSERT .. ON CONFLICT DO NOTHING RETURNING``; safe across replicas."""
        rows = [
            {
                "tenant": e.tenant,
                "dedup_key": e.dedup_key,
                "event_type": e.event_type,
                "payload": e.payload,
                "request_id": e.request_id,
                "received_at": e.received_at,
                "ordering_key": e.ordering_key,
                "trace_parent": e.trace_parent,
                "status": Status.PENDING.value,
                "attempts": 0,
                "available_at": e.received_at,
                "attempt_log": "[]",
            }
            for e in events
        ]
        return {(r[0], r[1]) for r in conn.execute(self._insert, rows)}

    # -- workers --------------------------------------------------------------------------------
    async def claim(self, owner: str, limit: int, now: float, lease_seconds: float) -> list[Event]:
        """Lease up to ``limit`` due events. A processing event whose lease ran out is due again.

        An event whose ordering key (its conversation) has an earlier unfinished event waits for it:
        one conversation's events run one at a time, in arrival order; different ones in parallel.
        Tenants take turns: each one's oldest due event first, then each one's second, ..., so one
        tenant's backlog cannot keep another's events waiting for every worker.
        """
        params = {
            "now": now,
            "limit": limit,
            "scan": limit * SCAN_PER_CLAIMED,
            "owner": owner,
            "until": now + lease_seconds,
        }
        stmt = self._claim.bindparams(**params)
        rows = await self.db.write(lambda conn: conn.execute(stmt).all())
        return sorted((_leased(r) for r in rows), key=lambda e: e.id)

    def insert_leased_in(
        self, conn: Connection, events: list[NewEvent], owner: str, until: float
    ) -> tuple[set[tuple[str, str]], list[Event]]:
        """Insert inside a caller's transaction, and lease to ``owner`` at once the new events that are
        the head of their ordering key (no earlier unfinished event shares it): their worker starts them
        without a claim. The others wait, pending, for a claim as usual. Safe across replicas for events
        made by the handler of their conversation's head event (outbox events): nothing else adds to
        that ordering key meanwhile."""
        keys = self.insert_in(conn, events)
        by_tenant: dict[str, list[str]] = {}
        for tenant, key in keys:
            by_tenant.setdefault(tenant, []).append(key)
        leased: list[Event] = []
        for tenant, tenant_keys in by_tenant.items():
            params = {"tenant": tenant, "keys": tenant_keys, "owner": owner, "until": until}
            leased.extend(_leased(r) for r in conn.execute(self._lease_new, params))
        return keys, sorted(leased, key=lambda e: e.id)

    async def finish_batch(self, completions: Sequence[Completion]) -> list[bool]:
        """Record finished attempts in one transaction; each only if its owner still holds the lease.

        Successes (the bulk) are one ``UPDATE .. WHERE id IN (..)`` per lease owner; failures, which
        carry their own error and history, one statement each.
        """

        def work(conn: Connection) -> list[bool]:
            done_by_owner: dict[str, list[Completion]] = {}
            for c in completions:
                if c.status is Status.DONE and c.error is None and c.attempt_log is None:
                    done_by_owner.setdefault(c.owner, []).append(c)
            recorded: set[int] = set()
            for owner, done in done_by_owner.items():
                ids = [c.event_id for c in done]
                finished_at = max(c.finished_at for c in done)
                recorded.update(
                    conn.execute(self._done, {"ids": ids, "owner": owner, "b_finished_at": finished_at}).scalars()
                )
            bulk = {c.event_id for done in done_by_owner.values() for c in done}
            outcomes = [c.event_id in recorded if c.event_id in bulk else _finish(conn, c) for c in completions]
            for c, ok in zip(completions, outcomes, strict=True):
                if ok and c.status is Status.DONE:
                    for work_done in c.work:
                        _done_work(conn, c.event_id, work_done)
            return outcomes

        return await self.db.write(work)

    async def release(self, event_ids: Sequence[int], owner: str, now: float) -> int:
        """Give leased events back unprocessed (shutdown); the attempt does not count."""
        if not event_ids:
            return 0
        stmt = (
            update(t)
            .where(t.c.id.in_(event_ids), t.c.lease_owner == owner, t.c.status == Status.PROCESSING.value)
            .values(status=Status.PENDING.value, lease_owner=None, available_at=now, attempts=t.c.attempts - 1)
        )
        return await self.db.write(lambda conn: conn.execute(stmt).rowcount)

    async def release_all_leases(self, now: float) -> int:
        """Embedded mode start: no other process can hold a lease, so every lease is an orphan."""
        stmt = update(t).where(t.c.status == Status.PROCESSING.value).values(available_at=now)
        return await self.db.write(lambda conn: conn.execute(stmt).rowcount)

    # -- inspection and dead letters ------------------------------------------------------------
    async def depth(self) -> dict[str, int]:
        stmt = (
            select(t.c.status, func.count())
            .where(t.c.status.in_((Status.PENDING.value, Status.PROCESSING.value, Status.DEAD.value)))
            .group_by(t.c.status)
        )
        counts = await self.db.read(lambda conn: {row[0]: int(row[1]) for row in conn.execute(stmt)})
        return {s.value: counts.get(s.value, 0) for s in (Status.PENDING, Status.PROCESSING, Status.DEAD)}

    async def _one(self, stmt: Select[Any]) -> StoredEvent | None:
        row = await self.db.read(lambda conn: conn.execute(stmt).first())
        return _stored(row) if row else None

    async def get(self, event_id: int) -> StoredEvent | None:
        return await self._one(select(t).where(t.c.id == event_id))

    async def get_by_key(self, tenant: str, dedup_key: str) -> StoredEvent | None:
        return await self._one(select(t).where(t.c.tenant == tenant, t.c.dedup_key == dedup_key))

    async def list_by_status(
        self, status: Status, *, tenant: str | None = None, after_id: int = 0, limit: int = 50
    ) -> list[StoredEvent]:
        conditions = [t.c.status == status.value, t.c.id > after_id]
        if tenant is not None:
            conditions.append(t.c.tenant == tenant)
        stmt = select(t).where(and_(*conditions)).order_by(t.c.id).limit(limit)
        return await self.db.read(lambda conn: [_stored(r) for r in conn.execute(stmt)])

    async def replay(self, event_id: int, now: float) -> bool:
        """A dead letter goes back to the queue with a fresh attempt budget; its history is kept. A replay
        starts its handling over: the Coze chat its last attempts left (failed, or never found) is
        forgotten, so the message is asked again, as the operator asked."""
        dead = select(t.c.tenant, t.c.dedup_key).where(t.c.id == event_id, t.c.status == Status.DEAD.value)
        stmt = (
            update(t)
            .where(t.c.id == event_id, t.c.status == Status.DEAD.value)
            .values(status=Status.PENDING.value, attempts=0, available_at=now, finished_at=None)
        )

        def work(conn: Connection) -> bool:
            row = conn.execute(dead).first()
            if row is None:
                return False
            c = coze_chats.c
            conn.execute(delete(coze_chats).where(c.tenant == row.tenant, c.source_event == row.dedup_key))
            return bool(conn.execute(stmt).rowcount == 1)

        return await self.db.write(work)

    async def discard(self, event_id: int, now: float) -> bool:
        stmt = (
            update(t)
            .where(t.c.id == event_id, t.c.status == Status.DEAD.value)
            .values(status=Status.DISCARDED.value, finished_at=now)
        )
        return await self.db.write(lambda conn: conn.execute(stmt).rowcount == 1)


_UNFINISHED = "status IN ('pending', 'processing')"  # the exact predicate of the partial indexes
# What a claim and a lease at birth return of each event they lease (``_leased`` reads them)
_LEASED_COLUMNS = (
    "id, tenant, dedup_key, event_type, payload, request_id, received_at, attempts, attempt_log, trace_parent"
)
SCAN_PER_CLAIMED = 8  # unordered events read per event claimed (the oldest), to take turns between tenants
# Heads: the oldest unfinished event of each ordering key, found by a skip scan of the partial index
# (one seek per active conversation, whatever the backlog). Unordered events come from their own
# partial index. The UPDATE re-checks status and due time, so concurrent claimers never share a row.
_CLAIM_SQL = """
WITH RECURSIVE keys(k) AS (
    SELECT min(ordering_key) FROM inbox_events {by_ordering} WHERE {_UNFINISHED} AND ordering_key IS NOT NULL
    UNION ALL
    SELECT (
        SELECT min(e.ordering_key) FROM inbox_events e {by_ordering}
        WHERE e.{_UNFINISHED} AND e.ordering_key > keys.k
    )
    FROM keys WHERE keys.k IS NOT NULL
),
heads(id) AS (
    SELECT (SELECT min(e.id) FROM inbox_events e {by_ordering} WHERE e.{_UNFINISHED} AND e.ordering_key = keys.k)
    FROM keys WHERE keys.k IS NOT NULL
),
candidates(id, tenant, available_at) AS (
    SELECT e.id, e.tenant, e.available_at FROM heads JOIN inbox_events e ON e.id = heads.id
    WHERE e.available_at <= :now
    UNION ALL
    SELECT * FROM (
        SELECT id, tenant, available_at FROM inbox_events {by_unordered}
        WHERE ordering_key IS NULL AND {_UNFINISHED} AND available_at <= :now
        ORDER BY available_at, id LIMIT :scan
    ) oldest
),
turns(id, available_at, turn) AS (
    SELECT id, available_at, row_number() OVER (PARTITION BY tenant ORDER BY available_at, id) FROM candidates
)
UPDATE inbox_events
SET status = 'processing', lease_owner = :owner, available_at = :until, attempts = attempts + 1
WHERE id IN (
    SELECT e.id FROM inbox_events e
    JOIN (SELECT id FROM turns ORDER BY turn, available_at, id LIMIT :limit) c ON c.id = e.id {lock}
)
  AND {_UNFINISHED} AND available_at <= :now
RETURNING {_LEASED_COLUMNS}
"""

# New events that head their ordering key, leased at once (``insert_leased_in``); the same columns as a claim.
_LEASE_NEW_SQL = """
UPDATE inbox_events
SET status = 'processing', lease_owner = :owner, available_at = :until, attempts = 1
WHERE tenant = :tenant AND dedup_key IN :keys AND status = 'pending' AND attempts = 0
  AND (ordering_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM inbox_events o
      WHERE o.ordering_key = inbox_events.ordering_key AND o.{_UNFINISHED} AND o.id < inbox_events.id
  ))
RETURNING {_LEASED_COLUMNS}
"""

_SQLITE_EXISTING = "SELECT dedup_key FROM inbox_events WHERE tenant = ? AND dedup_key IN ({})"
_SQLITE_INSERT = (
    "INSERT INTO inbox_events (tenant, dedup_key, event_type, payload, request_id, received_at, ordering_key,"
    " trace_parent, status, attempts, available_at, attempt_log) VALUES {}"
)
_SQLITE_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, '[]')"


def _insert_sqlite(conn: Connection, events: list[NewEvent]) -> set[tuple[str, str]]:
    """SQLite: look up existing keys, then insert the rest, each in one statement.

    Safe because every SQLite write runs on the one writer connection. Two statements with one
    step each (instead of a RETURNING step per row) keep the writer thread's GIL hand-offs few:
    under load each hand-off can wait for the event loop's switch interval.
    """
    by_tenant: dict[str, list[str]] = {}
    for e in events:
        by_tenant.setdefault(e.tenant, []).append(e.dedup_key)
    existing: set[tuple[str, str]] = set()
    for tenant, keys in by_tenant.items():  # one indexed lookup per tenant in the batch (usually one)
        sql = _SQLITE_EXISTING.format(",".join("?" * len(keys)))
        existing.update((tenant, r[0]) for r in conn.exec_driver_sql(sql, (tenant, *keys)))
    fresh = [e for e in events if (e.tenant, e.dedup_key) not in existing]
    if fresh:
        params = tuple(
            v
            for e in fresh
            for v in (
                e.tenant,
                e.dedup_key,
                e.event_type,
                e.payload,
                e.request_id,
                e.received_at,
                e.ordering_key,
                e.trace_parent,
                e.received_at,
            )
        )
        conn.exec_driver_sql(_SQLITE_INSERT.format(",".join([_SQLITE_ROW] * len(fresh))), params)
    return {(e.tenant, e.dedup_key) for e in fresh}


def _finish(conn: Connection, c: Completion) -> bool:
    values: dict[str, Any] = {"status": c.status.value, "lease_owner": None}
    if c.status is Status.PENDING:
        values["available_at"] = c.retry_at
    else:
        values["finished_at"] = c.finished_at
    if c.error is not None:
        values["last_error"] = c.error
    if c.attempt_log is not None:
        values["attempt_log"] = c.attempt_log
    stmt = (
        update(t)
        .where(t.c.id == c.event_id, t.c.lease_owner == c.owner, t.c.status == Status.PROCESSING.value)
        .values(**values)
    )
    return bool(conn.execute(stmt).rowcount == 1)


def _done_work(conn: Connection, event_id: int, work: Callable[[Connection], object]) -> None:
    """An event's done-work in a savepoint of the completions' transaction: if it fails, it alone is rolled
    back (and logged); the event is done all the same, and the other completions commit. (An error that
    ended the whole transaction makes the rollback fail, and that fails the batch as before.)"""
    savepoint = conn.begin_nested()
    try:
        work(conn)
    except Exception as exc:
        savepoint.rollback()  # if even this fails, the transaction is gone: that error fails the batch
        log.warning("work committed with event %d's done failed: %s", event_id, exc.__class__.__name__)
        return
    savepoint.commit()


def _leased(r: Row[Any]) -> Event:
    return Event(
        id=r.id,
        tenant=r.tenant,
        dedup_key=r.dedup_key,
        event_type=r.event_type,
        payload_text=r.payload,
        request_id=r.request_id,
        received_at=r.received_at,
        attempt=r.attempts,
        attempt_log=json.loads(r.attempt_log),
        trace_parent=r.trace_parent,
    )


def _stored(row: Row[Any]) -> StoredEvent:
    m = row._mapping
    return StoredEvent(
        id=m["id"],
        tenant=m["tenant"],
        dedup_key=m["dedup_key"],
        event_type=m["event_type"],
        status=m["status"],
        attempts=m["attempts"],
        received_at=m["received_at"],
        available_at=m["available_at"],
        finished_at=m["finished_at"],
        last_error=m["last_error"],
        attempt_log=json.loads(m["attempt_log"]),
        request_id=m["request_id"],
        payload=m["payload"],
    )
