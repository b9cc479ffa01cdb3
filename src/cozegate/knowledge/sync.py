"""``KnowledgeSync``: bring one source's documents into the index, incrementally.

A pass lists the source (cheap: names and versions), then for each document:

- same fingerprint as stored → unchanged, nothing fetched (unless it was modified within seconds of
  the fetch of the indexed text: whole-second timestamps, and clocks that differ, cannot tell a change
  made in that second);
- otherwise its text is fetched; same text hash as stored → unchanged (the new fingerprint is kept);
- otherwise it is chunked; chunks whose id (a hash of tenant, source, document, title, the chunk's
  section and text, and its occurrence) is already stored keep their vectors; only new chunks are
  embedded. Their ids enter the vector ledger, their vectors are written, then the document row and
  its chunks are replaced in one transaction, and only then are the vanished chunks' vectors deleted.

Documents the listing no longer has (or whose origin answers 404/410) are deleted. Every committed
chunk therefore has its vector; vectors without a committed chunk (a pass cut anywhere: crash, kill,
lost lease) are in the ledger, and the next pass of the source deletes them before anything else.
Upserts use deterministic ids, so redoing a document never duplicates it.

Each pass has its own lease owner: two passes of one source never overlap, whether they come from
two replicas or from the poller, an admin request and a webhook event in one process. A heartbeat
extends the lease while the pass runs; a pass whose lease was taken over is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from cozegate.knowledge.catalog import KnowledgeCatalog, LeaseLostError, SourceBusyError, StoredChunk, StoredDocument
from cozegate.knowledge.chunking import Chunk, chunk_markdown
from cozegate.knowledge.embeddings import Embedder
from cozegate.knowledge.extract import ExtractedText
from cozegate.knowledge.sources.base import DocumentGone, DocumentRef, IncompleteListing, SkipDocument, SourceReader
from cozegate.knowledge.terms import terms_text
from cozegate.knowledge.vector_index import IndexRow, VectorIndex
from cozegate.observability.metrics import KNOWLEDGE_CHUNKS_EMBEDDED, KNOWLEDGE_DOCUMENTS, KNOWLEDGE_SYNC_SECONDS

__all__ = ["KnowledgeSync", "LeaseLostError", "SourceBusyError", "SyncSummary"]

log = logging.getLogger(__name__)

EMBED_BATCH = 64
MAX_SKIP_REASONS = 20
MAX_DOCUMENT_KEY = 512
SAME_SECOND_MARGIN = 30.0


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
    orphans_removed: int = 0  # vectors an interrupted pass had left, deleted by this one
    resumed_after: int = 0  # documents the interrupted pass before this one had got through
    listing_complete: bool = True  # False: the source changed while listed, nothing was deleted
    seconds: float = 0.0
    skip_reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        if len(self.skip_reasons) < MAX_SKIP_REASONS:
            self.skip_reasons.append(reason)


@dataclass(frozen=True)
class ChunkSettings:
    max_chars: int = 800
    overlap_chars: int = 150


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chunk_ids(tenant: str, source: str, document: str, title: str, chunks: list[Chunk]) -> list[tuple[str, str]]:
    """(chunk id, content hash) per chunk. The id depends on what is embedded (title, section, text), not
    on the position: a chunk that only moved keeps its vector; a new title re-embeds the document."""
    seen: Counter[str] = Counter()
    ids = []
    for chunk in chunks:
        content = text_hash(f"{title}\n{chunk.section}\n{chunk.text}")
        occurrence = seen[content]
        seen[content] += 1
        key = f"{tenant}\0{source}\0{document}\0{content}\0{occurrence}"
        ids.append((hashlib.sha256(key.encode()).hexdigest()[:32], content))
    return ids


def _same_version(ref: DocumentRef, stored: StoredDocument) -> bool:
    """The source reports the version that was indexed. Sources with whole-second modification times (Coze)
    report the same fingerprint for a change made in the second its text was fetched, so a document modified
    within a few seconds of that fetch (or of the clocks' skew) is fetched again: its text decides."""
    if ref.fingerprint is None or ref.fingerprint != stored.fingerprint:
        return False
    return ref.modified_at is None or ref.modified_at < stored.synced_at - SAME_SECOND_MARGIN


def embedding_text(title: str, chunk: Chunk) -> str:
    """What is embedded and keyword-indexed: the chunk with its document title and section as context."""
    return "\n".join(part for part in (title, chunk.section, chunk.text) if part)


def _embed_rows(
    embedder: Embedder, batch: list[tuple[str, str]], tenant: str, source: str, document: str
) -> list[IndexRow]:
    """(chunk id, text) → index rows; CPU work, run in a worker thread."""
    texts = [text for _, text in batch]
    vectors = embedder.embed(texts)
    return [
        IndexRow(chunk_id, tenant, source, document, terms_text(text), vector)
        for (chunk_id, text), vector in zip(batch, vectors, strict=True)
    ]


class KnowledgeSync:
    def __init__(
        self,
        catalog: KnowledgeCatalog,
        index: VectorIndex,
        embedder: Embedder,
        owner: str,
        chunking: ChunkSettings = ChunkSettings(),
        lease_seconds: float = 120.0,
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
        owner = f"{self._owner}/{secrets.token_hex(4)}"  # this pass's own: not shared with another pass
        started_at, started = self._clock(), time.perf_counter()
        if not await self._catalog.acquire(tenant, source, owner, started_at, self._lease_seconds):
            raise SourceBusyError(f"knowledge source {tenant}/{source} is being synced already; try again later")
        summary = SyncSummary(source)
        completed = failed = False
        try:
            async with self._heartbeat(tenant, source, owner):
                await self._pass(tenant, source, owner, reader, progress, summary)
            summary.seconds = round(time.perf_counter() - started, 3)
            KNOWLEDGE_SYNC_SECONDS.labels(tenant, source).observe(summary.seconds)
            completed = True
            return summary
        except (asyncio.CancelledError, LeaseLostError):
            raise
        except Exception:
            failed = True  # counted: the source is retried with a growing delay
            raise
        finally:
            result = summary.as_dict() if completed else None
            await asyncio.shield(
                self._catalog.finish(tenant, source, owner, result, started_at, failed=failed, now=self._clock())
            )
            if completed:
                log.info("knowledge source synced", extra={"tenant": tenant, "summary": result})

    @contextlib.asynccontextmanager
    async def _heartbeat(self, tenant: str, source: str, owner: str) -> AsyncIterator[None]:
        """Extend the lease every third of its length (a failed renewal is retried at the next beat: only another
        owner holding the lease means it is lost); cancel the pass if it was lost."""
        current = asyncio.current_task()
        assert current is not None
        lost = False

        async def beat() -> None:
            nonlocal lost
            while True:
                await asyncio.sleep(self._lease_seconds / 3)
                try:
                    held = await self._catalog.renew(tenant, source, owner, self._clock(), self._lease_seconds)
                except Exception:
                    log.warning("knowledge sync lease not renewed; retrying", exc_info=True)
                    continue
                if not held:
                    lost = True
                    current.cancel()
                    return

        beating = asyncio.create_task(beat(), name=f"knowledge-lease-{tenant}-{source}")
        try:
            yield
        except asyncio.CancelledError:
            if lost and current.uncancel() == 0:  # our own cancel, and no one else's (a shutdown stays a cancel)
                raise LeaseLostError(f"knowledge source {tenant}/{source}: the sync lease was taken over") from None
            raise
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def _pass(
        self, tenant: str, source: str, owner: str, reader: SourceReader, progress: SyncProgress, summary: SyncSummary
    ) -> None:
        previous = await self._catalog.cursor(tenant, source)
        summary.resumed_after = int(previous.get("done", 0)) if previous else 0
        orphans = await self._catalog.orphan_vectors(tenant, source)
        await self._drop_vectors(orphans)
        summary.orphans_removed = len(orphans)
        try:
            refs = await reader.list_documents()
        except IncompleteListing as exc:
            refs, summary.listing_complete = exc.refs, False
            log.warning("incomplete knowledge listing: nothing deleted this pass", extra={"reason": str(exc)})
        stored = await self._catalog.documents(tenant, source)
        listed = {ref.key for ref in refs}
        gone = sorted(key for key in stored if key not in listed) if summary.listing_complete else []
        progress.started(source, len(refs) + len(gone), summary.resumed_after)
        for done, ref in enumerate(refs, start=1):
            outcome = await self._sync_document(tenant, source, owner, reader, ref, stored.get(ref.key), summary)
            cursor = {"done": done, "total": len(refs), "last": ref.key}
            if not await self._catalog.renew(tenant, source, owner, self._clock(), self._lease_seconds, cursor):
                raise LeaseLostError(f"knowledge source {tenant}/{source}: the sync lease was taken over")
            KNOWLEDGE_DOCUMENTS.labels(tenant, source, outcome).inc()
            progress.advanced(source, ref.key, outcome)
        for key in gone:
            await self._delete_document(tenant, source, owner, key)
            summary.deleted += 1
            KNOWLEDGE_DOCUMENTS.labels(tenant, source, "deleted").inc()
            progress.advanced(source, key, "deleted")
        await self._index.flush()

    async def _sync_document(
        self,
        tenant: str,
        source: str,
        owner: str,
        reader: SourceReader,
        ref: DocumentRef,
        stored: StoredDocument | None,
        summary: SyncSummary,
    ) -> str:
        if len(ref.key) > MAX_DOCUMENT_KEY:
            summary.skip(f"{ref.key[:80]}...: a document key longer than {MAX_DOCUMENT_KEY} characters")
            return "skipped"
        current = stored is not None and stored.index_name == self._index.collection
        if current and stored is not None and _same_version(ref, stored):
            summary.unchanged += 1
            return "unchanged"
        fetched_at = self._clock()
        try:
            text = await reader.fetch(ref)
        except DocumentGone as exc:
            if stored is None:
                summary.skip(str(exc))
                return "skipped"
            await self._delete_document(tenant, source, owner, ref.key)
            summary.deleted += 1
            return "deleted"
        except SkipDocument as exc:
            summary.skip(str(exc))
            return "skipped"
        content_hash = text_hash(f"{text.title}\n{text.markdown}")
        fingerprint = ref.fingerprint or content_hash
        if current and stored is not None and stored.content_hash == content_hash:
            await self._catalog.touch_document(tenant, source, ref.key, fingerprint, fetched_at, owner)
            summary.unchanged += 1
            return "unchanged"
        version = StoredDocument(ref.key, text.title, fingerprint, content_hash, self._index.collection, 0, fetched_at)
        await self._index_document(tenant, source, owner, version, text, current, summary)
        if stored is None:
            summary.added += 1
            return "added"
        summary.updated += 1
        return "updated"

    async def _index_document(
        self,
        tenant: str,
        source: str,
        owner: str,
        version: StoredDocument,
        text: ExtractedText,
        current: bool,
        summary: SyncSummary,
    ) -> None:
        document = version.document
        settings = self._chunking
        chunks = await asyncio.to_thread(
            chunk_markdown, text.markdown, max_chars=settings.max_chars, overlap_chars=settings.overlap_chars
        )
        ids = chunk_ids(tenant, source, document, text.title, chunks)
        existing = await self._catalog.chunk_hashes(tenant, source, document) if current else {}
        fresh = [
            (chunk_id, embedding_text(text.title, chunk))
            for chunk, (chunk_id, _) in zip(chunks, ids, strict=True)
            if chunk_id not in existing
        ]
        await self._catalog.record_vectors(tenant, source, document, [chunk_id for chunk_id, _ in fresh], owner)
        for start in range(0, len(fresh), EMBED_BATCH):
            batch = fresh[start : start + EMBED_BATCH]
            rows = await asyncio.to_thread(_embed_rows, self._embedder, batch, tenant, source, document)
            await self._hold_lease(tenant, source, owner)  # just renewed: no other pass starts before this lands
            await self._index.upsert(rows)
        stored_chunks = [
            StoredChunk(chunk_id, tenant, source, document, chunk.position, chunk.section, chunk_hash, chunk.text)
            for chunk, (chunk_id, chunk_hash) in zip(chunks, ids, strict=True)
        ]
        row = StoredDocument(
            document, text.title, version.fingerprint, version.content_hash, version.index_name, len(chunks),
            version.synced_at,
        )  # fmt: skip
        await self._catalog.replace_document(tenant, source, row, stored_chunks, owner)
        await self._drop_vectors(await self._catalog.orphan_vectors(tenant, source, document))
        summary.chunks_embedded += len(fresh)
        summary.chunks_reused += len(chunks) - len(fresh)
        KNOWLEDGE_CHUNKS_EMBEDDED.labels(tenant).inc(len(fresh))

    async def _hold_lease(self, tenant: str, source: str, owner: str) -> None:
        if not await self._catalog.renew(tenant, source, owner, self._clock(), self._lease_seconds):
            raise LeaseLostError(f"knowledge source {tenant}/{source}: the sync lease was taken over")

    async def _drop_vectors(self, chunk_ids: list[str]) -> None:
        if chunk_ids:
            await self._index.delete(chunk_ids)
            await self._catalog.forget_vectors(chunk_ids)

    async def _delete_document(self, tenant: str, source: str, owner: str, document: str) -> None:
        await self._catalog.remove_document(tenant, source, document, owner)
        await self._drop_vectors(await self._catalog.orphan_vectors(tenant, source, document))
