"""The vector index on Milvus: Milvus Lite (a local ``.db`` folder, embedded) or a Milvus server by URL.

One collection per embedder (``<prefix>_<embedder name>``) holds every tenant's chunks:

- ``tenant`` is the partition key, and every search filters on it: a tenant never sees another's
  chunks (BM25's document statistics are per collection, so term rarity is shared, never content);
- ``terms`` holds the chunk's terms (see ``terms``) and Milvus' own BM25 function turns them into a
  sparse vector: keyword search runs inside Milvus, in Lite and in a server alike, so replicas share
  one index and nothing is rebuilt per process;
- ``dense`` holds the embedding (cosine);
- ``source`` and ``document`` (a hash of the document's key, so no user text enters a filter
  expression) serve the metadata filters.

Hybrid search asks Milvus for both rankings and fuses them with reciprocal-rank fusion (k=60).
pymilvus is synchronous: every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pymilvus import AnnSearchRequest, DataType, Function, FunctionType, MilvusClient, MilvusException, RRFRanker

SearchMode = Literal["hybrid", "dense", "keyword"]
RequestedMode = Literal["auto", "hybrid", "dense", "keyword"]  # auto: hybrid with a semantic embedder, else keyword
RRF_K = 60
_OPENING = threading.Lock()
MAX_TERMS_BYTES = 65535


class _UnimplementedProbe(logging.Filter):
    """pymilvus asks every server for a timestamp (``AllocTimestamp``) when it connects; Milvus Lite's in-process
    server does not implement it, and grpc logs that as an error although the client carries on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Method not implemented" not in record.getMessage()


logging.getLogger("grpc._server").addFilter(_UnimplementedProbe())


def document_hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class IndexRow:
    chunk_id: str
    tenant: str
    source: str
    document: str
    terms: str
    vector: list[float]


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    score: float  # 0..1: cosine (dense), fused reciprocal rank (hybrid), squashed BM25 (keyword)


@dataclass(frozen=True)
class SearchFilter:
    sources: Sequence[str] = ()
    documents: Sequence[str] = ()


EVERYTHING = SearchFilter()


def _quoted(values: Sequence[str]) -> str:
    # tenant and source names match [a-z0-9_-]; documents are hex hashes: nothing here needs escaping
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def filter_expression(tenant: str, where: SearchFilter) -> str:
    parts = [f'tenant == "{tenant}"']
    if where.sources:
        parts.append(f"source in {_quoted(where.sources)}")
    if where.documents:
        parts.append(f"document in {_quoted([document_hash(d) for d in where.documents])}")
    return " and ".join(parts)


class VectorIndex:
    def __init__(self, uri: str, collection: str, dimension: int, token: str | None = None) -> None:
        self._uri = uri
        self._token = token
        self.collection = collection
        self._dimension = dimension
        self._client: MilvusClient | None = None

    @property
    def client(self) -> MilvusClient:
        if self._client is None:
            raise RuntimeError("the vector index is not open (call open() first)")
        return self._client

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        with _OPENING:  # Milvus Lite starts one server per folder, but two opens at once both try (one fails)
            self._open_collection()

    def _open_collection(self) -> None:
        self._client = MilvusClient(uri=self._uri, token=self._token or "")
        if self._client.has_collection(self.collection):
            self._client.load_collection(self.collection)
            return
        schema = self._client.create_schema(auto_id=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("tenant", DataType.VARCHAR, max_length=64, is_partition_key=True)
        schema.add_field("source", DataType.VARCHAR, max_length=64)
        schema.add_field("document", DataType.VARCHAR, max_length=32)
        schema.add_field(
            "terms",
            DataType.VARCHAR,
            max_length=MAX_TERMS_BYTES,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "standard"},
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self._dimension)
        schema.add_function(
            Function(
                name="terms_bm25",
                function_type=FunctionType.BM25,
                input_field_names=["terms"],
                output_field_names=["sparse"],
            )
        )
        indexes = self._client.prepare_index_params()
        indexes.add_index("dense", index_type="AUTOINDEX", metric_type="COSINE")
        indexes.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        try:
            self._client.create_collection(self.collection, schema=schema, index_params=indexes)
        except MilvusException:
            if not self._client.has_collection(self.collection):  # else another replica created it just now
                raise
            self._client.load_collection(self.collection)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)

    async def upsert(self, rows: Sequence[IndexRow]) -> None:
        if not rows:
            return
        data = [
            {
                "id": row.chunk_id,
                "tenant": row.tenant,
                "source": row.source,
                "document": document_hash(row.document),
                "terms": _fit(row.terms),
                "dense": row.vector,
            }
            for row in rows
        ]
        await asyncio.to_thread(self.client.upsert, self.collection, data)

    async def delete(self, chunk_ids: Sequence[str]) -> None:
        if chunk_ids:
            await asyncio.to_thread(self.client.delete, self.collection, ids=list(chunk_ids))

    async def delete_where(self, tenant: str, where: SearchFilter) -> None:
        expression = filter_expression(tenant, where)
        await asyncio.to_thread(self.client.delete, self.collection, filter=expression)

    async def flush(self) -> None:
        """Seal what was written (Milvus Lite searches sealed data through its indexes, new rows by scan)."""
        await asyncio.to_thread(self.client.flush, self.collection)

    async def count(self, tenant: str, where: SearchFilter = EVERYTHING) -> int:
        def run() -> int:
            rows = self.client.query(self.collection, filter=filter_expression(tenant, where), output_fields=["id"])
            return len(rows)

        return await asyncio.to_thread(run)

    async def search(
        self,
        tenant: str,
        mode: SearchMode,
        terms: str,
        vector: list[float] | None,
        limit: int,
        where: SearchFilter = EVERYTHING,
    ) -> list[Hit]:
        expression = filter_expression(tenant, where)
        return await asyncio.to_thread(self._search, mode, terms, vector, limit, expression)

    def _search(
        self, mode: SearchMode, terms: str, vector: list[float] | None, limit: int, expression: str
    ) -> list[Hit]:
        client = self.client
        if mode == "keyword" or (mode == "hybrid" and vector is None):
            if not terms.strip():
                return []
            found = client.search(self.collection, data=[terms], anns_field="sparse", limit=limit, filter=expression)
            return [Hit(str(hit["id"]), _bm25_score(hit["distance"])) for hit in found[0]]
        assert vector is not None
        if mode == "dense" or not terms.strip():
            found = client.search(self.collection, data=[vector], anns_field="dense", limit=limit, filter=expression)
            return [Hit(str(hit["id"]), max(0.0, min(1.0, float(hit["distance"])))) for hit in found[0]]
        candidates = max(limit * 4, 20)
        requests = [
            AnnSearchRequest(data=[vector], anns_field="dense", param={}, limit=candidates, expr=expression),
            AnnSearchRequest(data=[terms], anns_field="sparse", param={}, limit=candidates, expr=expression),
        ]
        found = client.hybrid_search(self.collection, requests, ranker=RRFRanker(RRF_K), limit=limit)
        best = 2.0 / (RRF_K + 1)  # first in both rankings
        return [Hit(str(hit["id"]), min(1.0, float(hit["distance"]) / best)) for hit in found[0]]


def _bm25_score(distance: Any) -> float:
    score = abs(float(distance))  # Milvus Lite reports BM25 as a negative distance, a server as a score
    return score / (score + 1.0)


def _fit(terms: str) -> str:
    encoded = terms.encode()
    if len(encoded) <= MAX_TERMS_BYTES:
        return terms
    return encoded[:MAX_TERMS_BYTES].decode(errors="ignore").rsplit(" ", 1)[0]
