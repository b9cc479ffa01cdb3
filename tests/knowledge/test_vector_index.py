"""The vector index on Milvus Lite (embedded) and on a Milvus server by URL: tenant isolation, filters,
deletes and scores, the same on both."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from milvus_lite import server_manager_instance

from cozegate.knowledge.embeddings import HashingEmbedder
from cozegate.knowledge.terms import terms_text
from cozegate.knowledge.vector_index import IndexRow, SearchFilter, VectorIndex

EMBEDDER = HashingEmbedder()


@pytest.fixture(params=["lite", "server"])
async def any_index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorIndex]:
    uri = str(tmp_path / "knowledge.db") if request.param == "lite" else request.getfixturevalue("milvus_server")
    index = VectorIndex(uri, f"t_{secrets.token_hex(4)}", EMBEDDER.dimension)
    await index.open()
    yield index
    await index.close()
    if request.param == "lite":
        server_manager_instance.release_server(uri)


def _row(chunk_id: str, tenant: str, source: str, document: str, text: str) -> IndexRow:
    return IndexRow(chunk_id, tenant, source, document, terms_text(text), EMBEDDER.embed([text])[0])


TEXTS = {
    "a1": ("acme", "handbook", "hr/leave.md", "Employees get 25 days of paid vacation."),
    "a2": ("acme", "handbook", "hr/expenses.md", "Meals are reimbursed up to 50 EUR per day."),
    "a3": ("acme", "wiki", "it/vpn.md", "Connect to the VPN before opening the intranet."),
    "b1": ("globex", "handbook", "hr/leave.md", "Employees get 25 days of paid vacation."),  # same text, other tenant
}


async def _filled(index: VectorIndex) -> VectorIndex:
    await index.upsert([_row(chunk_id, *fields) for chunk_id, fields in TEXTS.items()])
    await index.flush()
    return index


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
async def test_a_tenant_finds_only_its_own_chunks(any_index: VectorIndex, mode: str) -> None:
    index = await _filled(any_index)
    query = "paid vacation days"
    vector = EMBEDDER.embed([query])[0]
    acme = await index.search("acme", mode, terms_text(query), vector, 10)  # type: ignore[arg-type]
    globex = await index.search("globex", mode, terms_text(query), vector, 10)  # type: ignore[arg-type]
    assert acme[0].chunk_id == "a1"
    assert {hit.chunk_id for hit in acme} <= {"a1", "a2", "a3"}
    assert [hit.chunk_id for hit in globex] == ["b1"]
    assert all(0.0 <= hit.score <= 1.0 for hit in acme + globex)
    assert acme[0].score >= acme[-1].score


async def test_filters_by_source_and_document_and_deletes(any_index: VectorIndex) -> None:
    index = await _filled(any_index)
    query = "vpn vacation meals"
    vector = EMBEDDER.embed([query])[0]
    wiki = await index.search("acme", "hybrid", terms_text(query), vector, 10, SearchFilter(sources=["wiki"]))
    assert [hit.chunk_id for hit in wiki] == ["a3"]
    doc = SearchFilter(documents=['hr/expenses.md" or tenant != "x'])  # hashed: no way into the expression
    assert await index.search("acme", "keyword", terms_text(query), vector, 10, doc) == []
    expenses = await index.search("acme", "dense", "", vector, 10, SearchFilter(documents=["hr/expenses.md"]))
    assert [hit.chunk_id for hit in expenses] == ["a2"]
    await index.delete_where("acme", SearchFilter(sources=["handbook"], documents=["hr/leave.md"]))
    await index.delete(["a3"])
    assert await index.count("acme") == 1
    assert await index.count("globex") == 1  # the same document key of another tenant is untouched


async def test_an_empty_query_finds_nothing_by_keyword(any_index: VectorIndex) -> None:
    index = await _filled(any_index)
    assert await index.search("acme", "keyword", "", None, 5) == []
