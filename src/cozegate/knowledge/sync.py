"""``KnowledgeSync``: bring one source's documents into the index, incrementally.

A pass lists the source (cheap: names and versions), then for each document:

- same fingerprint as stored → unchanged, nothing fetched (unless it was modified within seconds of its last
  sync: whole-second timestamps cannot tell a change made in that second);
- otherwise its text is fetched; same text hash as stored → unchanged (the new fingerprint is kept);
- otherwise it is chunked; chunks whose id (a hash of tenant, source, document, the chunk's own text
  and its occurrence) is already stored keep their vectors, only new chunks are embedded; vanished
  chunks are removed; then the document row and its chunks are replaced in one transaction.

Documents the listing no longer has are deleted. Vector writes come before the database commit and
use deterministic ids, so a pass interrupted anywhere leaves no duplicates: the next pass redoes the
one document in flight (upserts overwrite) and skips what was committed. The source's lease keeps
two replicas (or the poller and an on-demand trigger) from syncing one source at once; the cursor
records how far a pass got, and the next pass reports that it resumed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from cozegate.knowledge.catalog import KnowledgeCatalog, StoredChunk, StoredDocument
from cozegate.knowledge.chunking import Chunk, chunk_markdown
from cozegate.knowledge.embeddings import Embedder
from cozegate.knowledge.extract import ExtractedText
from cozegate.knowledge.sources.base import DocumentRef, SkipDocument, SourceReader
from cozegate.knowledge.terms import terms_text
from cozegate.knowledge.vector_index import IndexRow, SearchFilter, VectorIndex
from cozegate.observability.metrics import KNOWLEDGE_CHUNKS_EMBEDDED, KNOWLEDGE_DOCUMENTS, KNOWLEDGE_SYNC_SECONDS

log = logging.getLogger(__name__)

EMBED_BATCH = 64
MAX_SKIP_REASONS = 20


class SourceBusyError(Exception):
    """Another sync of this source is running (here or on another replica)."""


class SyncProgress(Protocol):
    def started(self, source: str, total: int, resumed_after: int) -> None: ...

    def advanced(self, source: str, document: str, outcome: str) -> None: ...


class _Silent:
    def started(self, source: str, total: int, resumed_after: int) -> None:
        pass

    def advanced(self, source: str, document: str, outcome: str) -> None:
        pass


@dataclass
class SyncSummary:
    source: str
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    resumed_after: int = 0  # documents the interrupted pass before this one had got through
    seconds: float = 0.0
    skip_reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChunkSettings:
    max_chars: int = 800
    overlap_chars: int = 150


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chunk_ids(tenant: str, source: str, document: str, chunks: list[Chunk]) -> list[tuple[str, str]]:
    """(chunk id, content hash) per chunk: the id depends on the chunk's text, not its position."""
    seen: Counter[str] = Counter()
    ids = []
    for chunk in chunks:
        content = text_hash(f"{chunk.section}\n{chunk.text}")
        occurrence = seen[content]
        seen[content] += 1
        key = f"{tenant}\0{source}\0{document}\0{content}\0{occurrence}"
        ids.append((hashlib.sha256(key.encode()).hexdigest()[:32], content))
    return ids


SAME_SECOND_MARGIN = 5.0


def _same_version(ref: DocumentRef, stored: StoredDocument) -> bool:
    """The source reports the version that was indexed. Sources with whole-second modification times (Coze)
    report the same fingerprint for a change made in the second the last pass read the document, so a document
    modified within a few seconds of its last sync (or the clocks' skew) is fetched again: its text decides."""
    if ref.fingerprint is None or ref.fingerprint != stored.fingerprint:
        return False
    return ref.modified_at is None or ref.modified_at < stored.synced_at - SAME_SECOND_MARGIN


def embedding_text(title: str, chunk: Chunk) -> str:
    """What is embedded and keyword-indexed: the chunk with its document title and section as context."""
    return "\n".join(part for part in (title, chunk.section, chunk.text) if part)


class KnowledgeSync:
    def __init__(
        self,
        catalog: KnowledgeCatalog,
        index: VectorIndex,
        embedder: Embedder,
        owner: str,
        chunking: ChunkSettings = ChunkSettings(),
        lease_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalog = catalog
        self._index = index
        self._embedder = embedder
        self._owner = owner
        self._chunking = chunking
        self._lease_seconds = lease_seconds
        self._clock = clock

    async def sync_source(
        self, tenant: str, source: str, reader: SourceReader, progress: SyncProgress | None = None
    ) -> SyncSummary:
        progress = progress or _Silent()
        started = time.perf_counter()
        if not await self._catalog.acquire(tenant, source, self._owner, self._clock(), self._lease_seconds):
            raise SourceBusyError(f"knowledge source {tenant}/{source} is being synced already; try again later")
        summary = SyncSummary(source)
        completed = False
        try:
            previous = await self._catalog.cursor(tenant, source)
            summary.resumed_after = int(previous.get("done", 0)) if previous else 0
            refs = await reader.list_documents()
            stored = await self._catalog.documents(tenant, source)
            listed = {ref.key for ref in refs}
            gone = sorted(key for key in stored if key not in listed)
            progress.started(source, len(refs) + len(gone), summary.resumed_after)
            for done, ref in enumerate(refs, start=1):
                outcome = await self._sync_document(tenant, source, reader, ref, stored.get(ref.key), summary)
                await self._advance(tenant, source, {"done": done, "total": len(refs), "last": ref.key})
                KNOWLEDGE_DOCUMENTS.labels(tenant, source, outcome).inc()
                progress.advanced(source, ref.key, outcome)
            for key in gone:
                await self._delete_document(tenant, source, key)
                summary.deleted += 1
                KNOWLEDGE_DOCUMENTS.labels(tenant, source, "deleted").inc()
                progress.advanced(source, key, "deleted")
            await self._index.flush()
            summary.seconds = round(time.perf_counter() - started, 3)
            KNOWLEDGE_SYNC_SECONDS.labels(tenant, source).observe(summary.seconds)
            completed = True
            return summary
        finally:
            result = summary.as_dict() if completed else None
            await asyncio.shield(self._catalog.finish(tenant, source, self._owner, result, self._clock()))
            if completed:
                log.info("knowledge source synced", extra={"tenant": tenant, "summary": result})

    async def _advance(self, tenant: str, source: str, cursor: dict[str, Any]) -> None:
        if not await self._catalog.advance(tenant, source, self._owner, cursor, self._clock(), self._lease_seconds):
            raise SourceBusyError(f"knowledge source {tenant}/{source}: the sync lease was taken over; stopping")

    async def _sync_document(
        self,
        tenant: str,
        source: str,
        reader: SourceReader,
        ref: DocumentRef,
        stored: StoredDocument | None,
        summary: SyncSummary,
    ) -> str:
        current = stored is not None and stored.index_name == self._index.collection
        if current and stored is not None and _same_version(ref, stored):
            summary.unchanged += 1
            return "unchanged"
        try:
            text = await reader.fetch(ref)
        except SkipDocument as exc:
            summary.skipped += 1
            if len(summary.skip_reasons) < MAX_SKIP_REASONS:
                summary.skip_reasons.append(str(exc))
            return "skipped"
        content_hash = text_hash(f"{text.title}\n{text.markdown}")
        fingerprint = ref.fingerprint or content_hash
        if current and stored is not None and stored.content_hash == content_hash:
            await self._catalog.touch_document(tenant, source, ref.key, fingerprint, self._clock())
            summary.unchanged += 1
            return "unchanged"
        await self._index_document(tenant, source, ref.key, text, fingerprint, content_hash, current, summary)
        if stored is None:
            summary.added += 1
            return "added"
        summary.updated += 1
        return "updated"

    async def _index_document(
        self,
        tenant: str,
        source: str,
        document: str,
        text: ExtractedText,
        fingerprint: str,
        content_hash: str,
        current: bool,
        summary: SyncSummary,
    ) -> None:
        chunks = chunk_markdown(
            text.markdown, max_chars=self._chunking.max_chars, overlap_chars=self._chunking.overlap_chars
        )
        ids = chunk_ids(tenant, source, document, chunks)
        existing = await self._catalog.chunk_hashes(tenant, source, document) if current else {}
        fresh = [
            (chunk, chunk_id) for chunk, (chunk_id, _) in zip(chunks, ids, strict=True) if chunk_id not in existing
        ]
        for start in range(0, len(fresh), EMBED_BATCH):
            batch = fresh[start : start + EMBED_BATCH]
            texts = [embedding_text(text.title, chunk) for chunk, _ in batch]
            vectors = await asyncio.to_thread(self._embedder.embed, texts)
            rows = [
                IndexRow(chunk_id, tenant, source, document, terms_text(body), vector)
                for (_, chunk_id), body, vector in zip(batch, texts, vectors, strict=True)
            ]
            await self._index.upsert(rows)
        kept = {chunk_id for chunk_id, _ in ids}
        await self._index.delete([chunk_id for chunk_id in existing if chunk_id not in kept])
        summary.chunks_embedded += len(fresh)
        KNOWLEDGE_CHUNKS_EMBEDDED.labels(tenant).inc(len(fresh))
        summary.chunks_reused += len(chunks) - len(fresh)
        stored_chunks = [
            StoredChunk(chunk_id, tenant, source, document, chunk.position, chunk.section, chunk_hash, chunk.text)
            for chunk, (chunk_id, chunk_hash) in zip(chunks, ids, strict=True)
        ]
        row = StoredDocument(document, text.title, fingerprint, content_hash, self._index.collection, len(chunks))
        await self._catalog.replace_document(tenant, source, row, stored_chunks, self._clock())

    async def _delete_document(self, tenant: str, source: str, document: str) -> None:
        await self._index.delete_where(tenant, SearchFilter(sources=[source], documents=[document]))
        await self._catalog.remove_document(tenant, source, document)
