"""``KnowledgeService``: the knowledge feature of a running gateway.

It owns the embedder and the vector index (opened on first use, so a gateway whose tenants have no
knowledge never starts Milvus), makes a reader for each configured source, runs syncs on demand and
on an interval (every replica polls; a source's lease and last-sync time make one of them do it),
and answers searches.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import time
from collections.abc import Callable

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
from cozegate.knowledge.vector_index import EVERYTHING, SearchFilter, SearchMode, VectorIndex
from cozegate.settings import Settings
from cozegate.storage import Database
from cozegate.tenants import TenantRegistry
from cozegate.tenants.model import CozeKnowledgeSource, FolderKnowledgeSource, KnowledgeSource

log = logging.getLogger(__name__)


class KnowledgeNotConfiguredError(LookupError):
    code = "knowledge_not_configured"


class KnowledgeService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        tenants: Callable[[], TenantRegistry],
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
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.knowledge_fetch_timeout_seconds, connect=10.0),
            headers={"user-agent": "cozegate-knowledge-sync"},
        )

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

    def _source(self, tenant: str, name: str | None) -> list[KnowledgeSource]:
        config = self._tenants().knowledge(tenant)
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
        config = self._tenants().knowledge(tenant)
        return config is not None and any(source.name == name for source in config.sources)

    def reader(self, tenant: str, source: KnowledgeSource) -> SourceReader:
        private = self._settings.knowledge_fetch_private_addresses
        if isinstance(source, CozeKnowledgeSource):
            coze = self._coze_for(tenant)
            return CozeDatasetReader(coze, source.dataset_id, self._http, source.origin_dir, allow_private=private)
        if isinstance(source, FolderKnowledgeSource):
            return FolderReader(source.path)
        return UrlsReader([str(url) for url in source.urls], self._http, allow_private=private)

    async def sync(
        self, tenant: str, source: str | None = None, progress: SyncProgress | None = None
    ) -> list[SyncSummary]:
        """Sync one source of the tenant, or all; ``SourceBusyError`` if one is being synced already."""
        sources = self._source(tenant, source)
        index, embedder = await self._ready()
        chunking = ChunkSettings(self._settings.knowledge_chunk_chars, self._settings.knowledge_chunk_overlap_chars)
        syncer = KnowledgeSync(self.catalog, index, embedder, self._owner, chunking)
        return [await syncer.sync_source(tenant, s.name, self.reader(tenant, s), progress) for s in sources]

    async def search(
        self,
        tenant: str,
        query: str,
        *,
        top_k: int = 5,
        mode: SearchMode = "hybrid",
        where: SearchFilter = EVERYTHING,
        score_threshold: float = 0.0,
    ) -> list[Passage]:
        self._source(tenant, None)
        index, embedder = await self._ready()
        return await KnowledgeSearch(self.catalog, index, embedder).search(
            tenant, query, top_k=top_k, mode=mode, where=where, score_threshold=score_threshold
        )

    async def statuses(self, tenant: str) -> list[SourceStatus]:
        return await self.catalog.statuses(tenant, time.time())

    async def poll(self) -> None:
        """Forever: sync every configured source whose last completed pass is older than the interval."""
        interval = self._settings.knowledge_sync_interval_seconds
        await asyncio.sleep(random.uniform(0, min(interval, 30.0) / 10))
        while True:
            await self.poll_once(interval)
            await asyncio.sleep(min(interval / 4, 60.0) * random.uniform(0.9, 1.1))

    async def poll_once(self, interval: float) -> int:
        """One round of the poller; the number of sources it synced."""
        synced = 0
        now = time.time()
        for tenant, config in self._tenants().knowledge_tenants().items():
            if not config.sources:
                continue
            last = {status.source: status.synced_at for status in await self.catalog.statuses(tenant, now)}
            for source in config.sources:
                done_at = last.get(source.name)
                if done_at is not None and now - done_at < interval:
                    continue
                try:
                    await self.sync(tenant, source.name)
                    synced += 1
                except SourceBusyError:
                    continue  # another replica has it
                except Exception:
                    log.exception("knowledge sync failed", extra={"tenant": tenant, "source": source.name})
        return synced

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._index is not None:
            await self._index.close()
