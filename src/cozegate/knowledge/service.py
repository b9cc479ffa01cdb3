"""``KnowledgeService``: the knowledge feature of a running gateway.

It owns the embedder and the vector index (opened on first use, so a gateway whose tenants have no
knowledge never starts Milvus), makes a reader for each configured source, runs syncs (on demand,
asked for by an event, and on an interval: every replica polls, a source's lease and its last pass
make one of them do it), removes what belongs to sources no longer configured, and answers searches
within the tenant's configured sources.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from cozegate.coze import CozeClient
from cozegate.knowledge.catalog import KnowledgeCatalog, SourceStatus
from cozegate.knowledge.embeddings import Embedder, create_embedder
from cozegate.knowledge.passages import Passage
from cozegate.knowledge.retrieval import KnowledgeSearch
from cozegate.knowledge.sources.base import SourceReader
from cozegate.knowledge.sources.coze import CozeDatasetReader
from cozegate.knowledge.sources.folder import FolderReader
from cozegate.knowledge.sources.web import UrlsReader
from cozegate.knowledge.sync import ChunkSettings, KnowledgeSync, SourceBusyError, SyncProgress, SyncSummary
from cozegate.knowledge.vector_index import EVERYTHING, RequestedMode, SearchFilter, VectorIndex
from cozegate.settings import Settings
from cozegate.storage import Database
from cozegate.tenants.live import LiveTenants
from cozegate.tenants.model import CozeKnowledgeSource, FolderKnowledgeSource, KnowledgeSource

log = logging.getLogger(__name__)

REQUEST_POLL_SECONDS = 15.0  # how soon the poller runs a sync asked for by an event, at the latest
PRUNE_EVERY_ROUNDS = 20  # removed sources are looked for every 20 rounds (about 5 min)
PRUNE_GRACE_SECONDS = 600.0


class KnowledgeNotConfiguredError(LookupError):
    code = "knowledge_not_configured"


class KnowledgeUnavailableError(RuntimeError):
    """The index or the database failed while searching (the caller answers 503)."""


@dataclass(frozen=True)
class SourceOutcome:
    """One source's part of a sync request: its summary, or why it did not run (``busy``/``failed``)."""

    source: str
    summary: SyncSummary | None = None
    error: str | None = None
    busy: bool = False


class KnowledgeService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        tenants: LiveTenants,
        coze_for: Callable[[str], CozeClient],
        embedder: Embedder | None = None,
    ) -> None:
        self._settings = settings
        self._tenants = tenants
        self._coze_for = coze_for
        self.catalog = KnowledgeCatalog(db)
        self._embedder = embedder
        self._index: VectorIndex | None = None
        self._opening = asyncio.Lock()
        self._owner = f"{os.uname().nodename[:40]}-{os.getpid()}-{secrets.token_hex(3)}"
        self._tasks: set[asyncio.Task[object]] = set()
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.knowledge_fetch_timeout_seconds, connect=10.0),
            headers={"user-agent": "cozegate-knowledge-sync"},
        )

    async def start(self, *, exclusive: bool) -> None:
        """``exclusive`` (embedded: one process): leases left by a killed process are released now."""
        if exclusive:
            await self.catalog.release_all()

    async def _ready(self) -> tuple[VectorIndex, Embedder]:
        async with self._opening:
            if self._embedder is None:
                self._embedder = await asyncio.to_thread(create_embedder, self._settings.knowledge_embedder)
            if self._index is None:
                token = self._settings.knowledge_vector_token
                index = VectorIndex(
                    self._settings.resolved_knowledge_vector_uri,
                    f"{self._settings.knowledge_collection}_{self._embedder.name}",
                    self._embedder.dimension,
                    token.get_secret_value() if token is not None else None,
                )
                await index.open()
                self._index = index
            return self._index, self._embedder

    def sources(self, tenant: str, name: str | None = None) -> list[KnowledgeSource]:
        config = self._tenants.current.knowledge(tenant)
        if config is None or not config.sources:
            raise KnowledgeNotConfiguredError(f"tenant {tenant!r} has no knowledge sources configured")
        if name is None:
            return list(config.sources)
        chosen = [source for source in config.sources if source.name == name]
        if not chosen:
            known = ", ".join(source.name for source in config.sources)
            raise KnowledgeNotConfiguredError(f"tenant {tenant!r} has no knowledge source {name!r} (it has: {known})")
        return chosen

    def has_source(self, tenant: str, name: str) -> bool:
        config = self._tenants.current.knowledge(tenant)
        return config is not None and any(source.name == name for source in config.sources)

    def reader(self, tenant: str, source: KnowledgeSource) -> SourceReader:
        private = self._settings.knowledge_fetch_private_addresses
        if isinstance(source, CozeKnowledgeSource):
            coze = self._coze_for(tenant)
            return CozeDatasetReader(coze, source.dataset_id, self._http, source.origin_dir, allow_private=private)
        if isinstance(source, FolderKnowledgeSource):
            return FolderReader(source.path)
        return UrlsReader([str(url) for url in source.urls], self._http, allow_private=private)

    async def sync_one(self, tenant: str, source: str, progress: SyncProgress | None = None) -> SyncSummary:
        """One pass of one source; ``SourceBusyError`` if a pass of it is running."""
        [config] = self.sources(tenant, source)
        index, embedder = await self._ready()
        chunking = ChunkSettings(self._settings.knowledge_chunk_chars, self._settings.knowledge_chunk_overlap_chars)
        syncer = KnowledgeSync(self.catalog, index, embedder, self._owner, chunking)
        return await syncer.sync_source(tenant, config.name, self.reader(tenant, config), progress)

    async def sync(
        self, tenant: str, source: str | None = None, progress: SyncProgress | None = None
    ) -> list[SourceOutcome]:
        """Sync one source of the tenant, or each in turn; a busy or failing source does not stop the others."""
        outcomes = []
        for config in self.sources(tenant, source):
            try:
                outcomes.append(SourceOutcome(config.name, await self.sync_one(tenant, config.name, progress)))
            except SourceBusyError as exc:
                outcomes.append(SourceOutcome(config.name, error=str(exc), busy=True))
            except Exception as exc:
                log.exception("knowledge sync failed", extra={"tenant": tenant, "source": config.name})
                outcomes.append(SourceOutcome(config.name, error=f"{type(exc).__name__}: {exc}"))
        return outcomes

    async def request_sync(self, tenant: str, source: str | None = None) -> None:
        """Record that a sync was asked for (durably: the poller runs it at the latest) and start it now."""
        names = [config.name for config in self.sources(tenant, source)]
        await self.catalog.request(tenant, names, time.time())
        self.run_in_background(self.sync(tenant, source), f"knowledge-sync-{tenant}")

    def run_in_background(self, work: Coroutine[Any, Any, object], name: str) -> asyncio.Task[object]:
        """A task the service keeps (and cancels on close): syncs asked for over HTTP or by an event."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def search(
        self,
        tenant: str,
        query: str,
        *,
        top_k: int = 5,
        mode: RequestedMode = "auto",
        where: SearchFilter = EVERYTHING,
        score_threshold: float = 0.0,
    ) -> list[Passage]:
        """Within the tenant's configured sources only (a source removed from the configuration is not searched
        while its data waits to be removed)."""
        configured = [config.name for config in self.sources(tenant)]
        sources = [s for s in where.sources if s in configured] if where.sources else configured
        if not sources:
            return []
        try:
            index, embedder = await self._ready()
            return await KnowledgeSearch(self.catalog, index, embedder).search(
                tenant,
                query,
                top_k=top_k,
                mode=mode,
                where=SearchFilter(sources, where.documents),
                score_threshold=score_threshold,
            )
        except Exception as exc:
            log.exception("knowledge search failed", extra={"tenant": tenant})
            raise KnowledgeUnavailableError(
                f"the knowledge index cannot be searched now ({type(exc).__name__})"
            ) from exc

    async def statuses(self, tenant: str) -> list[SourceStatus]:
        return await self.catalog.statuses(tenant, time.time())

    async def poll(self) -> None:
        """Forever: prune removed sources, and sync every source that is due (see ``SourceStatus.due``)."""
        interval = self._settings.knowledge_sync_interval_seconds
        period = min(interval / 4, REQUEST_POLL_SECONDS)
        await asyncio.sleep(random.uniform(0, period))
        while True:
            try:
                await self.prune()
                await self.poll_once(interval)
            except Exception:
                log.exception("knowledge poll round failed; the next one runs in %.0f s", period)
            await asyncio.sleep(period * random.uniform(0.9, 1.1))

    async def poll_once(self, interval: float) -> int:
        """One round of the poller; the number of sources it synced."""
        synced = 0
        for tenant, config in self._tenants.current.knowledge_tenants().items():
            if not config.sources:
                continue
            statuses = {status.source: status for status in await self.catalog.statuses(tenant, time.time())}
            for source in config.sources:
                status = statuses.get(source.name)
                if status is not None and not status.due(time.time(), interval):
                    continue
                try:
                    await self.sync_one(tenant, source.name)
                    synced += 1
                except SourceBusyError:
                    continue  # another pass has it
                except Exception:
                    log.exception("knowledge sync failed", extra={"tenant": tenant, "source": source.name})
        return synced

    async def prune(self, grace: float = PRUNE_GRACE_SECONDS) -> int:
        """Delete the vectors and rows of sources no longer configured (tenant or source removed).

        A source is pruned under its sync lease (never beside a running pass), and only when nothing happened
        to it for ``grace`` seconds: during a rolling configuration change a replica that still has the old
        configuration must not delete a source that another replica has just been given and is syncing.
        """
        configured = {
            (tenant, source.name)
            for tenant, config in self._tenants.current.knowledge_tenants().items()
            for source in config.sources
        }
        removed = sorted((await self.catalog.known_sources()) - configured)
        pruned = 0
        for tenant, source in removed:
            now = time.time()
            status = next((s for s in await self.catalog.statuses(tenant, now) if s.source == source), None)
            last = (
                max((t for t in (status.synced_at, status.requested_at) if t is not None), default=None)
                if status
                else None
            )
            if last is not None and now - last < grace:
                continue
            owner = f"{self._owner}/prune"
            if not await self.catalog.acquire(tenant, source, owner, now, 120.0):
                continue  # a pass of it is running
            index, _ = await self._ready()
            await index.delete_where(tenant, SearchFilter(sources=[source]))
            await self.catalog.forget_source(tenant, source)  # the lease row goes with it
            log.info("knowledge of a removed source deleted", extra={"tenant": tenant, "source": source})
            pruned += 1
        return pruned

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()
        if self._index is not None:
            await self._index.close()
