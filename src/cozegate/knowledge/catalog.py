"""``KnowledgeCatalog``: what has been synced, in the database (SQLite or PostgreSQL).

Per source a lease (one replica syncs a source at a time; a crashed holder's lease runs out) and the
cursor of the pass in progress; per document the version its source reported (``fingerprint``) and
the hash of its text; per chunk its text and metadata. A document's row and all its chunks are
replaced in one transaction, so a sync interrupted at any point leaves every document either fully
at its old version or fully at its new one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cozegate.storage import Database
from cozegate.storage.schema import knowledge_chunks, knowledge_documents, knowledge_sources


@dataclass(frozen=True)
class StoredDocument:
    document: str
    title: str
    fingerprint: str
    content_hash: str
    index_name: str
    chunks: int
    synced_at: float = 0.0


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
    documents: int


class KnowledgeCatalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the per-source lease and cursor ------------------------------------------------------------
    async def acquire(self, tenant: str, source: str, owner: str, now: float, lease_seconds: float) -> bool:
        """Take (or extend) the source's sync lease; False while another owner holds an unexpired one."""
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
                .where((table.lease_until < now) | (table.lease_owner == owner) | (table.lease_owner.is_(None)))
                .values(lease_owner=owner, lease_until=now + lease_seconds)
            )
            return bool(taken.rowcount == 1)

        try:
            return await self._db.write(work)
        except IntegrityError:  # another replica inserted the source's row at the same moment
            return False

    async def advance(
        self, tenant: str, source: str, owner: str, cursor: dict[str, Any], now: float, lease_seconds: float
    ) -> bool:
        """Store the pass's cursor and extend the lease; False if the lease was lost to another owner."""
        table = knowledge_sources.c

        def work(conn: Connection) -> bool:
            stored = conn.execute(
                update(knowledge_sources)
                .where(table.tenant == tenant, table.source == source, table.lease_owner == owner)
                .values(cursor=json.dumps(cursor), lease_until=now + lease_seconds)
            )
            return bool(stored.rowcount == 1)

        return await self._db.write(work)

    async def finish(self, tenant: str, source: str, owner: str, summary: dict[str, Any] | None, now: float) -> None:
        """Release the lease; with a summary the pass completed (its cursor is cleared), else it stays."""
        table = knowledge_sources.c
        values: dict[str, Any] = {"lease_owner": None, "lease_until": 0.0}
        if summary is not None:
            values |= {"cursor": None, "last_summary": json.dumps(summary), "synced_at": now}
        await self._db.write(
            lambda conn: conn.execute(
                update(knowledge_sources)
                .where(table.tenant == tenant, table.source == source, table.lease_owner == owner)
                .values(**values)
            )
        )

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
            counts: dict[str, int] = {}
            for doc in conn.execute(select(knowledge_documents.c.source).where(knowledge_documents.c.tenant == tenant)):
                counts[doc.source] = counts.get(doc.source, 0) + 1
            rows = conn.execute(select(knowledge_sources).where(table.tenant == tenant).order_by(table.source))
            return [
                SourceStatus(
                    tenant,
                    row.source,
                    row.lease_owner is not None and row.lease_until >= now,
                    json.loads(row.cursor) if row.cursor else None,
                    json.loads(row.last_summary) if row.last_summary else None,
                    row.synced_at,
                    counts.get(row.source, 0),
                )
                for row in rows
            ]

        return await self._db.read(work)

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

    async def replace_document(
        self, tenant: str, source: str, document: StoredDocument, chunks: Sequence[StoredChunk], now: float
    ) -> None:
        docs, chunk_table = knowledge_documents.c, knowledge_chunks.c

        def work(conn: Connection) -> None:
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
                    synced_at=now,
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

    async def touch_document(self, tenant: str, source: str, document: str, fingerprint: str, now: float) -> None:
        """The source reports a new version whose text is unchanged: remember the new fingerprint."""
        table = knowledge_documents.c
        await self._db.write(
            lambda conn: conn.execute(
                update(knowledge_documents)
                .where(table.tenant == tenant, table.source == source, table.document == document)
                .values(fingerprint=fingerprint, synced_at=now)
            )
        )

    async def remove_document(self, tenant: str, source: str, document: str) -> None:
        docs, chunk_table = knowledge_documents.c, knowledge_chunks.c

        def work(conn: Connection) -> None:
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

    async def chunks(self, tenant: str, chunk_ids: Sequence[str]) -> dict[str, StoredChunk]:
        """The tenant's chunks among ``chunk_ids`` (another tenant's ids are not returned)."""
        if not chunk_ids:
            return {}
        table = knowledge_chunks.c

        def work(conn: Connection) -> dict[str, StoredChunk]:
            rows = conn.execute(
                select(knowledge_chunks).where(table.tenant == tenant, table.chunk_id.in_(list(chunk_ids)))
            )
            return {
                row.chunk_id: StoredChunk(
                    row.chunk_id,
                    row.tenant,
                    row.source,
                    row.document,
                    row.position,
                    row.section,
                    row.content_hash,
                    row.text,
                )
                for row in rows
            }

        return await self._db.read(work)

    async def titles(self, tenant: str, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """(source, document) → title."""
        if not keys:
            return {}
        table = knowledge_documents.c
        documents = sorted({document for _, document in keys})

        def work(conn: Connection) -> dict[tuple[str, str], str]:
            rows = conn.execute(
                select(table.source, table.document, table.title).where(
                    table.tenant == tenant, table.document.in_(documents)
                )
            )
            return {(row.source, row.document): row.title for row in rows}

        return await self._db.read(work)
