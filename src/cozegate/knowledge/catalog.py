"""``KnowledgeCatalog``: what has been synced, in the database (SQLite or PostgreSQL).

- per source: a lease (one pass at a time, across processes and within one: every pass has its own
  owner id; a crashed holder's lease runs out), the cursor of the pass in progress, the last summary,
  when the last completed pass started, and when a sync was last asked for;
- per document: the version its source reported (``fingerprint``), the hash of its text, and when
  the indexed text was fetched;
- per chunk: its text and metadata;
- the vector ledger: every chunk id that may have a vector in the index, written before the vector.
  A document's row and chunks are replaced in one transaction after its new vectors are written,
  and its vanished vectors are deleted after that commit, so every committed chunk has its vector,
  and a vector without a committed chunk (an interrupted pass) is in the ledger for the next pass to
  delete.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cozegate.storage import Database
from cozegate.storage.schema import knowledge_chunks, knowledge_documents, knowledge_sources, knowledge_vectors


class SourceBusyError(Exception):
    """Another pass of this source is running (here or on another replica)."""


class LeaseLostError(SourceBusyError):
    """This pass's lease was taken over (it ran past the lease without a heartbeat): it stopped."""


def retry_delay(failures: int) -> float:
    """How long a source that failed ``failures`` passes in a row waits before the poller tries it again."""
    return float(min(3600, 30 * 2 ** max(0, failures - 1)))


@dataclass(frozen=True)
class StoredDocument:
    document: str
    title: str
    fingerprint: str
    content_hash: str
    index_name: str
    chunks: int
    synced_at: float = 0.0  # when the indexed text was fetched


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    tenant: str
    source: str
    document: str
    position: int
    section: str
    content_hash: str
    text: str


@dataclass(frozen=True)
class SourceStatus:
    tenant: str
    source: str
    syncing: bool
    cursor: dict[str, Any] | None
    last_summary: dict[str, Any] | None
    synced_at: float | None
    requested_at: float | None
    documents: int
    failures: int = 0  # passes failed in a row
    failed_at: float | None = None

    def due(self, now: float, interval: float) -> bool:
        """A pass should run: never completed, older than the interval, asked for since, or interrupted; but a
        failing source waits 30 s, 1 min, 2 min ... up to an hour between tries, unless asked for since."""
        if self.syncing:
            return False
        if self.failures and self.failed_at is not None and now < self.failed_at + retry_delay(self.failures):
            return self.requested_at is not None and self.requested_at > self.failed_at
        if self.synced_at is None or now - self.synced_at >= interval or self.cursor is not None:
            return True
        return self.requested_at is not None and self.requested_at > self.synced_at


def _chunk(row: Any) -> StoredChunk:
    return StoredChunk(
        row.chunk_id, row.tenant, row.source, row.document, row.position, row.section, row.content_hash, row.text
    )


def _hold(conn: Connection, tenant: str, source: str, owner: str) -> None:
    """In the writing transaction: the pass still holds the source's lease (the row is locked on PostgreSQL, so a
    take-over waits for this commit, and its sweep of stray vectors sees what it committed)."""
    table = knowledge_sources.c
    row = conn.execute(
        select(table.lease_owner).where(table.tenant == tenant, table.source == source).with_for_update()
    ).first()
    if row is None or row.lease_owner != owner:
        raise LeaseLostError(f"knowledge source {tenant}/{source}: the sync lease was taken over")


class KnowledgeCatalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the per-source lease, cursor and requests -------------------------------------------------
    async def acquire(self, tenant: str, source: str, owner: str, now: float, lease_seconds: float) -> bool:
        """Take the source's sync lease for ``owner`` (one pass); False while another holds an unexpired one."""
        table = knowledge_sources.c

        def work(conn: Connection) -> bool:
            row = conn.execute(select(table.lease_owner).where(table.tenant == tenant, table.source == source)).first()
            if row is None:
                conn.execute(
                    insert(knowledge_sources).values(
                        tenant=tenant, source=source, lease_owner=owner, lease_until=now + lease_seconds
                    )
                )
                return True
            taken = conn.execute(
                update(knowledge_sources)
                .where(table.tenant == tenant, table.source == source)
                .where((table.lease_until < now) | (table.lease_owner.is_(None)))
                .values(lease_owner=owner, lease_until=now + lease_seconds)
            )
            return bool(taken.rowcount == 1)

        try:
            return await self._db.write(work)
        except IntegrityError:  # another replica inserted the source's row at the same moment
            return False

    async def renew(
        self,
        tenant: str,
        source: str,
        owner: str,
        now: float,
        lease_seconds: float,
        cursor: dict[str, Any] | None = None,
    ) -> bool:
        """Extend the lease (and store the pass's cursor); False if it was lost to another owner."""
        table = knowledge_sources.c
        values: dict[str, Any] = {"lease_until": now + lease_seconds}
        if cursor is not None:
            values["cursor"] = json.dumps(cursor)

        def work(conn: Connection) -> bool:
            stored = conn.execute(
                update(knowledge_sources)
                .where(table.tenant == tenant, table.source == source, table.lease_owner == owner)
                .values(**values)
            )
            return bool(stored.rowcount == 1)

        return await self._db.write(work)

    async def finish(
        self,
        tenant: str,
        source: str,
        owner: str,
        summary: dict[str, Any] | None,
        started_at: float,
        *,
        failed: bool = False,
        now: float = 0.0,
    ) -> None:
        """Release the lease; with a summary the pass completed (its cursor is cleared), else it stays. A failed
        pass (an error, not a cancellation) counts towards the source's retry delay; a completed one resets it."""
        table = knowledge_sources.c
        values: dict[str, Any] = {"lease_owner": None, "lease_until": 0.0}
        if summary is not None:
            values |= {
                "cursor": None,
                "last_summary": json.dumps(summary),
                "synced_at": started_at,
                "failures": 0,
                "failed_at": None,
            }
        elif failed:
            values |= {"failures": table.failures + 1, "failed_at": now}
        await self._db.write(
            lambda conn: conn.execute(
                update(knowledge_sources)
                .where(table.tenant == tenant, table.source == source, table.lease_owner == owner)
                .values(**values)
            )
        )

    async def release_all(self) -> None:
        """Embedded start: no other process can be syncing, so every lease is a dead process's."""
        await self._db.write(
            lambda conn: conn.execute(update(knowledge_sources).values(lease_owner=None, lease_until=0.0))
        )

    async def request(self, tenant: str, sources: Sequence[str], now: float) -> None:
        """Remember that a sync of these sources was asked for (the poller runs it if nothing else does)."""
        table = knowledge_sources.c

        def work(conn: Connection) -> None:
            for source in sources:
                stored = conn.execute(
                    update(knowledge_sources)
                    .where(table.tenant == tenant, table.source == source)
                    .values(requested_at=now)
                )
                if stored.rowcount == 0:
                    conn.execute(
                        insert(knowledge_sources).values(
                            tenant=tenant, source=source, lease_owner=None, lease_until=0.0, requested_at=now
                        )
                    )

        await self._db.write(work)

    async def cursor(self, tenant: str, source: str) -> dict[str, Any] | None:
        table = knowledge_sources.c
        row = await self._db.read(
            lambda conn: conn.execute(
                select(table.cursor).where(table.tenant == tenant, table.source == source)
            ).first()
        )
        return json.loads(row.cursor) if row is not None and row.cursor else None

    async def statuses(self, tenant: str, now: float) -> list[SourceStatus]:
        table = knowledge_sources.c

        def work(conn: Connection) -> list[SourceStatus]:
            docs = knowledge_documents.c
            counts: dict[str, int] = dict(
                conn.execute(select(docs.source, func.count()).where(docs.tenant == tenant).group_by(docs.source)).all()
            )
            rows = conn.execute(select(knowledge_sources).where(table.tenant == tenant).order_by(table.source))
            return [
                SourceStatus(
                    tenant,
                    row.source,
                    row.lease_owner is not None and row.lease_until >= now,
                    json.loads(row.cursor) if row.cursor else None,
                    json.loads(row.last_summary) if row.last_summary else None,
                    row.synced_at,
                    row.requested_at,
                    counts.get(row.source, 0),
                    row.failures,
                    row.failed_at,
                )
                for row in rows
            ]

        return await self._db.read(work)

    async def known_sources(self) -> set[tuple[str, str]]:
        """Every (tenant, source) that has anything stored."""

        def work(conn: Connection) -> set[tuple[str, str]]:
            found = {
                (r.tenant, r.source)
                for r in conn.execute(select(knowledge_sources.c.tenant, knowledge_sources.c.source))
            }
            found |= {
                (r.tenant, r.source)
                for r in conn.execute(select(knowledge_vectors.c.tenant, knowledge_vectors.c.source).distinct())
            }
            return found

        return await self._db.read(work)

    async def forget_source(self, tenant: str, source: str) -> None:
        """Delete everything stored of a source (its vectors must be deleted from the index first)."""

        def work(conn: Connection) -> None:
            for table in (knowledge_chunks, knowledge_documents, knowledge_vectors, knowledge_sources):
                conn.execute(delete(table).where(table.c.tenant == tenant, table.c.source == source))

        await self._db.write(work)

    # -- documents and chunks --------------------------------------------------------------------------
    async def documents(self, tenant: str, source: str) -> dict[str, StoredDocument]:
        table = knowledge_documents.c

        def work(conn: Connection) -> dict[str, StoredDocument]:
            rows = conn.execute(select(knowledge_documents).where(table.tenant == tenant, table.source == source))
            return {
                row.document: StoredDocument(
                    row.document,
                    row.title,
                    row.fingerprint,
                    row.content_hash,
                    row.index_name,
                    row.chunks,
                    row.synced_at,
                )
                for row in rows
            }

        return await self._db.read(work)

    async def chunk_hashes(self, tenant: str, source: str, document: str) -> dict[str, str]:
        """chunk id → content hash of the document's stored chunks."""
        table = knowledge_chunks.c
        rows = await self._db.read(
            lambda conn: conn.execute(
                select(table.chunk_id, table.content_hash).where(
                    table.tenant == tenant, table.source == source, table.document == document
                )
            ).all()
        )
        return {row.chunk_id: row.content_hash for row in rows}

    async def record_vectors(
        self, tenant: str, source: str, document: str, chunk_ids: Sequence[str], owner: str
    ) -> None:
        """Enter chunk ids in the vector ledger before their vectors are written (ids already there stay)."""
        if not chunk_ids:
            return
        table = knowledge_vectors.c

        def work(conn: Connection) -> None:
            _hold(conn, tenant, source, owner)
            known = {
                row.chunk_id for row in conn.execute(select(table.chunk_id).where(table.chunk_id.in_(list(chunk_ids))))
            }
            rows = [
                {"chunk_id": i, "tenant": tenant, "source": source, "document": document}
                for i in dict.fromkeys(chunk_ids)
                if i not in known
            ]
            if rows:
                conn.execute(insert(knowledge_vectors), rows)

        await self._db.write(work)

    async def forget_vectors(self, chunk_ids: Sequence[str]) -> None:
        """The vectors are deleted from the index: drop them from the ledger."""
        if chunk_ids:
            ids = list(chunk_ids)
            await self._db.write(
                lambda conn: conn.execute(delete(knowledge_vectors).where(knowledge_vectors.c.chunk_id.in_(ids)))
            )

    async def orphan_vectors(self, tenant: str, source: str, document: str | None = None) -> list[str]:
        """Ledger ids without a committed chunk: vectors an interrupted pass (or a deleted document) left."""
        ledger, chunks = knowledge_vectors.c, knowledge_chunks.c
        query = (
            select(ledger.chunk_id)
            .outerjoin(knowledge_chunks, chunks.chunk_id == ledger.chunk_id)
            .where(ledger.tenant == tenant, ledger.source == source, chunks.chunk_id.is_(None))
        )
        if document is not None:
            query = query.where(ledger.document == document)
        rows = await self._db.read(lambda conn: conn.execute(query).all())
        return [row.chunk_id for row in rows]

    async def replace_document(
        self, tenant: str, source: str, document: StoredDocument, chunks: Sequence[StoredChunk], owner: str
    ) -> None:
        docs, chunk_table = knowledge_documents.c, knowledge_chunks.c

        def work(conn: Connection) -> None:
            _hold(conn, tenant, source, owner)
            conn.execute(
                delete(knowledge_chunks).where(
                    chunk_table.tenant == tenant,
                    chunk_table.source == source,
                    chunk_table.document == document.document,
                )
            )
            conn.execute(
                delete(knowledge_documents).where(
                    docs.tenant == tenant, docs.source == source, docs.document == document.document
                )
            )
            conn.execute(
                insert(knowledge_documents).values(
                    tenant=tenant,
                    source=source,
                    document=document.document,
                    title=document.title,
                    fingerprint=document.fingerprint,
                    content_hash=document.content_hash,
                    index_name=document.index_name,
                    chunks=document.chunks,
                    synced_at=document.synced_at,
                )
            )
            if chunks:
                conn.execute(
                    insert(knowledge_chunks),
                    [
                        {
                            "chunk_id": c.chunk_id,
                            "tenant": c.tenant,
                            "source": c.source,
                            "document": c.document,
                            "position": c.position,
                            "section": c.section,
                            "content_hash": c.content_hash,
                            "text": c.text,
                        }
                        for c in chunks
                    ],
                )

        await self._db.write(work)

    async def touch_document(
        self, tenant: str, source: str, document: str, fingerprint: str, fetched_at: float, owner: str
    ) -> None:
        """The source reports a new version whose text is unchanged: remember the new fingerprint."""
        table = knowledge_documents.c

        def work(conn: Connection) -> None:
            _hold(conn, tenant, source, owner)
            conn.execute(
                update(knowledge_documents)
                .where(table.tenant == tenant, table.source == source, table.document == document)
                .values(fingerprint=fingerprint, synced_at=fetched_at)
            )

        await self._db.write(work)

    async def remove_document(self, tenant: str, source: str, document: str, owner: str) -> None:
        """Delete the document's row and chunks (its vectors stay in the ledger until deleted)."""
        docs, chunk_table = knowledge_documents.c, knowledge_chunks.c

        def work(conn: Connection) -> None:
            _hold(conn, tenant, source, owner)
            conn.execute(
                delete(knowledge_chunks).where(
                    chunk_table.tenant == tenant, chunk_table.source == source, chunk_table.document == document
                )
            )
            conn.execute(
                delete(knowledge_documents).where(
                    docs.tenant == tenant, docs.source == source, docs.document == document
                )
            )

        await self._db.write(work)

    async def chunks_with_titles(self, tenant: str, chunk_ids: Sequence[str]) -> dict[str, tuple[StoredChunk, str]]:
        """The tenant's chunks among ``chunk_ids`` with their document's title, in one query (another tenant's
        ids are not returned)."""
        if not chunk_ids:
            return {}
        chunk, doc = knowledge_chunks.c, knowledge_documents.c
        query = (
            select(knowledge_chunks, doc.title)
            .outerjoin(
                knowledge_documents,
                (doc.tenant == chunk.tenant) & (doc.source == chunk.source) & (doc.document == chunk.document),
            )
            .where(chunk.tenant == tenant, chunk.chunk_id.in_(list(chunk_ids)))
        )

        def work(conn: Connection) -> dict[str, tuple[StoredChunk, str]]:
            return {row.chunk_id: (_chunk(row), row.title or row.document) for row in conn.execute(query)}

        return await self._db.read(work)
