"""``KnowledgeSearch``: a query in, the tenant's best passages out (keyword, dense or hybrid)."""

from __future__ import annotations

import asyncio

from cozegate.knowledge.catalog import KnowledgeCatalog
from cozegate.knowledge.embeddings import Embedder
from cozegate.knowledge.passages import Passage
from cozegate.knowledge.terms import terms_text
from cozegate.knowledge.vector_index import EVERYTHING, RequestedMode, SearchFilter, SearchMode, VectorIndex
from cozegate.observability.metrics import KNOWLEDGE_SEARCH_SECONDS


class KnowledgeSearch:
    def __init__(self, catalog: KnowledgeCatalog, index: VectorIndex, embedder: Embedder) -> None:
        self._catalog = catalog
        self._index = index
        self._embedder = embedder

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
        if not query.strip():
            return []
        resolved = self.resolve(mode)
        with KNOWLEDGE_SEARCH_SECONDS.labels(resolved).time():
            return await self._search(tenant, query, top_k, resolved, where, score_threshold)

    def resolve(self, mode: RequestedMode) -> SearchMode:
        """``auto``: hybrid with a semantic embedder; keyword alone with the lexical (hashing) one, which measured
        better than fusing two lexical rankings (bench/retrieval)."""
        if mode != "auto":
            return mode
        return "hybrid" if self._embedder.semantic else "keyword"

    async def _search(
        self, tenant: str, query: str, top_k: int, mode: SearchMode, where: SearchFilter, score_threshold: float
    ) -> list[Passage]:
        vector = None
        if mode != "keyword":
            vector = (await asyncio.to_thread(self._embedder.embed, [query]))[0]
        hits = await self._index.search(tenant, mode, terms_text(query), vector, top_k * 3, where)
        hits = [hit for hit in hits if hit.score >= score_threshold]
        chunks = await self._catalog.chunks_with_titles(tenant, [hit.chunk_id for hit in hits])
        passages = []
        seen: set[str] = set()
        for hit in hits:
            if hit.chunk_id not in chunks:  # indexed by a pass that has not committed (or was interrupted) yet
                continue
            chunk, title = chunks[hit.chunk_id]
            if chunk.text in seen:  # the same passage in two documents (copies, includes): shown once
                continue
            seen.add(chunk.text)
            passages.append(
                Passage(
                    hit.chunk_id,
                    hit.score,
                    chunk.text,
                    title,
                    chunk.section,
                    chunk.source,
                    chunk.document,
                    chunk.position,
                )
            )
        return passages[:top_k]
