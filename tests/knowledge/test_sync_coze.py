"""Incremental sync of a Coze knowledge base, through the simulator's knowledge API and the real cozepy,
into Milvus Lite and the database (SQLite and PostgreSQL): add, change, delete, and a pass interrupted
halfway that the next pass resumes without duplicates."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from cozepy import Coze, DocumentBase, DocumentFormatType, DocumentSourceInfo
from sqlalchemy import select, update

from cozegate.coze import CozeClient
from cozegate.knowledge.catalog import KnowledgeCatalog, StoredDocument
from cozegate.knowledge.embeddings import HashingEmbedder
from cozegate.knowledge.extract import ExtractedText
from cozegate.knowledge.retrieval import KnowledgeSearch
from cozegate.knowledge.sources.base import DocumentRef
from cozegate.knowledge.sources.coze import CozeDatasetReader
from cozegate.knowledge.sync import KnowledgeSync, LeaseLostError, SourceBusyError
from cozegate.knowledge.vector_index import VectorIndex
from cozegate.storage import Database
from cozegate.storage.schema import knowledge_chunks, knowledge_sources
from tests.knowledge.conftest import WebSite

TENANT, SOURCE = "acme", "handbook"
HTML = "text/html; charset=utf-8"

VACATION = """<html><head><title>Vacation policy</title></head><body>
<h1>Vacation policy</h1><p>Every employee gets 25 days of paid vacation per year.</p>
<h2>Carry-over</h2><p>Unused vacation days carry over until the end of March.</p></body></html>"""
EXPENSES = """<html><head><title>Expenses</title></head><body><h1>Expenses</h1>
<p>Submit receipts within 30 days. Meals are reimbursed up to 50 EUR per day.</p></body></html>"""
SECURITY = "# Security\n\nBadges must be worn visibly at all times.\n\n## Visitors\n\nVisitors sign in at the desk.\n"
REFUNDS = "退货政策\n========\n\n商品在收货后七天内可以无理由退货。退款会在三个工作日内原路返回。\n"


def _dataset(coze: Coze, website: WebSite, origin: Path) -> tuple[str, dict[str, str]]:
    text_kind = DocumentFormatType.DOCUMENT
    dataset_id = coze.datasets.create(name="Handbook", space_id="sim-workspace", format_type=text_kind)
    website.pages["vacation.html"] = (HTML, VACATION)
    website.pages["expenses.html"] = (HTML, EXPENSES)
    (origin / "security.md").write_text(SECURITY)
    (origin / "refunds.txt").write_text(REFUNDS)
    bases = [
        DocumentBase(name="Vacation", source_info=DocumentSourceInfo.build_web_page(website.url_of("vacation.html"))),
        DocumentBase(name="Expenses", source_info=DocumentSourceInfo.build_web_page(website.url_of("expenses.html"))),
        DocumentBase(name="security.md", source_info=DocumentSourceInfo.build_local_file(SECURITY, "md")),
        DocumentBase(name="refunds.txt", source_info=DocumentSourceInfo.build_local_file(REFUNDS, "txt")),
        DocumentBase(name="salaries.txt", source_info=DocumentSourceInfo.build_local_file("secret", "txt")),
    ]
    docs = coze.datasets.documents.create(dataset_id=dataset_id.dataset_id, document_bases=bases)
    return dataset_id.dataset_id, {doc.name: doc.document_id for doc in docs}


async def _chunk_rows(db: Database) -> list[Any]:
    return await db.read(lambda conn: conn.execute(select(knowledge_chunks)).all())


async def _assert_consistent(db: Database, index: VectorIndex) -> int:
    """SQL chunks and vectors agree one to one (no duplicate, no orphan); the number of chunks."""
    rows = await _chunk_rows(db)
    ids = [row.chunk_id for row in rows]
    assert len(ids) == len(set(ids))
    vectors = await asyncio.to_thread(
        index.client.query, index.collection, filter=f'tenant == "{TENANT}"', output_fields=["id"]
    )
    assert sorted(str(v["id"]) for v in vectors) == sorted(ids)
    return len(ids)


async def test_add_change_delete(
    coze: Coze, coze_client: CozeClient, website: WebSite, db: Database, index: VectorIndex, tmp_path: Path
) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    dataset_id, ids = _dataset(coze, website, origin)
    catalog = KnowledgeCatalog(db)
    sync = KnowledgeSync(catalog, index, HashingEmbedder(), owner="replica-1")

    def reader() -> CozeDatasetReader:
        return _reader(coze_client, dataset_id, origin)

    first = await sync.sync_source(TENANT, SOURCE, reader())
    assert (first.added, first.updated, first.deleted, first.unchanged, first.skipped) == (4, 0, 0, 0, 1)
    assert any("salaries.txt" in reason and "not found" in reason for reason in first.skip_reasons)
    chunks = await _assert_consistent(db, index)
    assert first.chunks_embedded == chunks
    search = KnowledgeSearch(catalog, index, HashingEmbedder())
    top = (await search.search(TENANT, "how many vacation days per year", top_k=1))[0]
    assert (top.title, top.document, top.section) == ("Vacation policy", ids["Vacation"], "Vacation policy")
    assert "25 days" in top.text
    assert "七天内" in (await search.search(TENANT, "退货 几天", top_k=1, mode="keyword"))[0].text

    # nothing changed: nothing embedded. The documents were created seconds before their text was fetched,
    # so the same-second rule reads them again (Coze's whole-second update time could hide a change)
    website.fetches.clear()
    again = await sync.sync_source(TENANT, SOURCE, reader())
    assert (again.added, again.updated, again.deleted, again.unchanged, again.chunks_embedded) == (0, 0, 0, 4, 0)
    assert sorted(website.fetches) == ["expenses.html", "vacation.html"]

    # the page changes and Coze records the change (update time); one new chunk embedded, the rest reused
    await asyncio.sleep(1.1)  # Coze's update times are whole seconds
    website.pages["vacation.html"] = (HTML, VACATION.replace("25 days", "28 days"))
    coze.datasets.documents.update(document_id=ids["Vacation"], document_name="Vacation")
    changed = await sync.sync_source(TENANT, SOURCE, reader())
    assert (changed.added, changed.updated, changed.deleted, changed.unchanged) == (0, 1, 0, 3)
    assert changed.chunks_embedded == 1
    assert changed.chunks_reused >= 1
    found = [p.text for p in await search.search(TENANT, "how many vacation days per year", top_k=3)]
    assert any("28 days" in text for text in found)
    assert not any("25 days" in text for text in found)
    assert not [p for p in await search.search(TENANT, "25 days of paid vacation", top_k=10) if "25 days" in p.text]
    await _assert_consistent(db, index)

    # deleted at Coze: its chunks leave the index and the database
    coze.datasets.documents.delete(document_ids=[ids["Expenses"]])
    deleted = await sync.sync_source(TENANT, SOURCE, reader())
    assert (deleted.deleted, deleted.added, deleted.updated) == (1, 0, 0)
    assert not [p for p in await search.search(TENANT, "meals reimbursed receipts", top_k=10) if "Meals" in p.text]
    assert ids["Expenses"] not in {row.document for row in await _chunk_rows(db)}
    await _assert_consistent(db, index)


async def test_a_pass_interrupted_halfway_resumes_without_duplicates(
    coze: Coze, coze_client: CozeClient, website: WebSite, db: Database, index: VectorIndex, tmp_path: Path
) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    dataset_id, _ = _dataset(coze, website, origin)
    catalog = KnowledgeCatalog(db)
    replaced: list[str] = []
    real_replace = catalog.replace_document

    async def crash_on_third(*args: Any, **kwargs: Any) -> None:
        if len(replaced) == 2:  # the third document's vectors are written, its database commit never happens
            raise ConnectionError("the process died")
        replaced.append(args[2].document)
        await real_replace(*args, **kwargs)

    catalog.replace_document = crash_on_third  # type: ignore[method-assign]
    sync = KnowledgeSync(catalog, index, HashingEmbedder(), owner="replica-1")
    with pytest.raises(ConnectionError):
        await sync.sync_source(TENANT, SOURCE, _reader(coze_client, dataset_id, origin))
    assert len(await catalog.documents(TENANT, SOURCE)) == 2
    assert (await catalog.cursor(TENANT, SOURCE)) == {"done": 2, "total": 5, "last": replaced[-1]}

    catalog.replace_document = real_replace  # type: ignore[method-assign]
    resumed = await KnowledgeSync(catalog, index, HashingEmbedder(), owner="replica-2").sync_source(
        TENANT, SOURCE, _reader(coze_client, dataset_id, origin)
    )
    assert resumed.resumed_after == 2
    assert (resumed.added, resumed.unchanged, resumed.skipped) == (2, 2, 1)
    chunks = await _assert_consistent(db, index)
    texts = Counter(row.text for row in await _chunk_rows(db))
    assert max(texts.values()) == 1
    assert chunks == len(texts)
    assert await catalog.cursor(TENANT, SOURCE) is None  # the completed pass cleared it


class _Pages:
    """A source of one page whose text the test sets."""

    def __init__(self) -> None:
        self.text = ""

    async def list_documents(self) -> list[DocumentRef]:
        return [DocumentRef("page", "page", None)]

    async def fetch(self, ref: DocumentRef) -> ExtractedText:
        return ExtractedText("Page", self.text)


V1 = "# Page\n\nFirst paragraph stays.\n\n## Old\n\nOnly in version one."
V2 = "# Page\n\nFirst paragraph stays.\n\n## New\n\nOnly in version two."
V3 = "# Page\n\nFirst paragraph stays.\n\n## Third\n\nOnly in version three."


@pytest.mark.parametrize("then", ["reverted", "changed again"])
async def test_a_pass_cut_between_its_vectors_and_its_commit_leaves_no_stray_vector(
    db: Database, index: VectorIndex, then: str
) -> None:
    catalog = KnowledgeCatalog(db)
    page = _Pages()
    page.text = V1
    await KnowledgeSync(catalog, index, HashingEmbedder(), owner="r1").sync_source(TENANT, SOURCE, page)
    real_replace = catalog.replace_document

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the process died")

    catalog.replace_document = crash  # type: ignore[method-assign]
    page.text = V2
    with pytest.raises(ConnectionError):
        await KnowledgeSync(catalog, index, HashingEmbedder(), owner="r1").sync_source(TENANT, SOURCE, page)
    catalog.replace_document = real_replace  # type: ignore[method-assign]
    page.text = V1 if then == "reverted" else V3
    summary = await KnowledgeSync(catalog, index, HashingEmbedder(), owner="r2").sync_source(TENANT, SOURCE, page)
    assert summary.orphans_removed == 1  # version two's new chunk, written before the cut
    await _assert_consistent(db, index)
    texts = {row.text for row in await _chunk_rows(db)}
    assert "Only in version two." not in texts
    assert ("Only in version one." in texts) == (then == "reverted")
    search = KnowledgeSearch(catalog, index, HashingEmbedder())
    assert all("two" not in p.text for p in await search.search(TENANT, "version two", top_k=5, mode="keyword"))


async def test_two_passes_of_one_process_do_not_overlap(db: Database, index: VectorIndex) -> None:
    catalog = KnowledgeCatalog(db)
    sync = KnowledgeSync(catalog, index, HashingEmbedder(), owner="same-process")
    slow = _SlowReader()
    running = asyncio.create_task(sync.sync_source(TENANT, SOURCE, slow))
    await slow.entered.wait()
    with pytest.raises(SourceBusyError):
        await sync.sync_source(TENANT, SOURCE, _SlowReader())  # e.g. the poller while an admin sync runs
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


async def test_a_pass_that_lost_its_lease_stops(db: Database, index: VectorIndex) -> None:
    catalog = KnowledgeCatalog(db)
    sync = KnowledgeSync(catalog, index, HashingEmbedder(), owner="slow", lease_seconds=0.3)
    slow = _SlowReader()
    running = asyncio.create_task(sync.sync_source(TENANT, SOURCE, slow))
    await slow.entered.wait()
    # another replica took the lease over (for a minute: the check below must not race its expiry)
    takeover = update(knowledge_sources).values(lease_owner="another-replica", lease_until=time.time() + 60)
    await db.write(lambda conn: conn.execute(takeover))
    with pytest.raises(LeaseLostError):
        await asyncio.wait_for(running, timeout=30)
    assert (await catalog.statuses(TENANT, time.time()))[0].syncing  # the other replica's lease stands


async def test_a_new_title_re_embeds_the_document(db: Database, index: VectorIndex) -> None:
    catalog = KnowledgeCatalog(db)
    page = _Pages()
    page.text = V1
    sync = KnowledgeSync(catalog, index, HashingEmbedder(), owner="r1")
    first = await sync.sync_source(TENANT, SOURCE, page)

    class Renamed(_Pages):
        async def fetch(self, ref: DocumentRef) -> ExtractedText:
            return ExtractedText("Quarterly bulletin", self.text)

    renamed = Renamed()
    renamed.text = V1
    second = await sync.sync_source(TENANT, SOURCE, renamed)
    assert second.updated == 1
    assert second.chunks_embedded == first.chunks_embedded
    search = KnowledgeSearch(catalog, index, HashingEmbedder())
    assert (await search.search(TENANT, "quarterly bulletin", top_k=1, mode="keyword"))[0].title == "Quarterly bulletin"
    await _assert_consistent(db, index)


class _SlowReader:
    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def list_documents(self) -> list[DocumentRef]:
        return [DocumentRef("a", "a", "1")]

    async def fetch(self, ref: DocumentRef) -> ExtractedText:
        self.entered.set()
        await asyncio.sleep(30)
        return ExtractedText("a", "a")


async def test_one_sync_per_source_at_a_time_and_a_cancelled_one_frees_it(db: Database, index: VectorIndex) -> None:
    catalog = KnowledgeCatalog(db)
    first, second = (KnowledgeSync(catalog, index, HashingEmbedder(), owner=o) for o in ("r1", "r2"))
    slow = _SlowReader()
    running = asyncio.create_task(first.sync_source(TENANT, SOURCE, slow))
    await slow.entered.wait()
    with pytest.raises(SourceBusyError):
        await second.sync_source(TENANT, SOURCE, _SlowReader())
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert await catalog.acquire(TENANT, SOURCE, "r2", now=time.time(), lease_seconds=60)


def _reader(coze_client: CozeClient, dataset_id: str, origin: Path) -> CozeDatasetReader:
    """The test's web pages are on loopback: private addresses allowed (see test_web_fetch for the guard)."""
    return CozeDatasetReader(coze_client, dataset_id, httpx.AsyncClient(timeout=10), origin, allow_private=True)


class _ShiftingCoze:
    """A Coze whose listing misses a document (one was deleted while its pages were read)."""

    def __init__(self, names: list[str], total: int) -> None:
        self.docs = [
            SimpleNamespace(
                document_id=name, name=name, status=1, source_type=0, update_time=1, size=1, char_count=1,
                slice_count=1,
            )
            for name in names
        ]  # fmt: skip
        self.total = total
        self.listings = 0

    async def list_documents(self, dataset_id: str) -> tuple[list[Any], int]:
        self.listings += 1
        return self.docs, self.total


async def test_an_incomplete_coze_listing_deletes_nothing(db: Database, index: VectorIndex, tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    for name in ("a.md", "b.md"):
        (origin / name).write_text(f"# {name}\n\nText of {name}.\n")
    catalog = KnowledgeCatalog(db)
    sync = KnowledgeSync(catalog, index, HashingEmbedder(), owner="r1")
    complete = _ShiftingCoze(["a.md", "b.md"], total=2)
    reader = CozeDatasetReader(complete, "ds", httpx.AsyncClient(), origin)  # type: ignore[arg-type]
    assert (await sync.sync_source(TENANT, SOURCE, reader)).added == 2

    shifted = _ShiftingCoze(["b.md"], total=2)  # a.md still exists, the pages skipped it
    reader = CozeDatasetReader(shifted, "ds", httpx.AsyncClient(), origin)  # type: ignore[arg-type]
    summary = await sync.sync_source(TENANT, SOURCE, reader)
    assert shifted.listings == 3
    assert not summary.listing_complete
    assert summary.deleted == 0
    assert set(await catalog.documents(TENANT, SOURCE)) == {"a.md", "b.md"}


async def test_a_failed_lease_renewal_is_retried_and_the_pass_completes(db: Database, index: VectorIndex) -> None:
    catalog = KnowledgeCatalog(db)
    real_renew = catalog.renew
    calls = []

    async def flaky_renew(*args: Any, **kwargs: Any) -> bool:
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionError("database is locked")
        return await real_renew(*args, **kwargs)

    catalog.renew = flaky_renew  # type: ignore[method-assign]

    class Slow(_Pages):
        async def fetch(self, ref: DocumentRef) -> ExtractedText:
            await asyncio.sleep(0.5)  # several heartbeats of a 0.3 s lease
            return ExtractedText("Page", V1)

    summary = await KnowledgeSync(catalog, index, HashingEmbedder(), owner="r1", lease_seconds=0.3).sync_source(
        TENANT, SOURCE, Slow()
    )
    assert summary.added == 1
    assert len(calls) >= 3


async def test_writes_of_a_pass_that_lost_its_lease_are_refused(db: Database) -> None:
    catalog = KnowledgeCatalog(db)
    assert await catalog.acquire(TENANT, SOURCE, "old-pass", time.time() - 200, 120)  # expired since
    assert await catalog.acquire(TENANT, SOURCE, "new-pass", time.time(), 120)
    document = StoredDocument("d", "D", "f", "h", "index", 0)
    with pytest.raises(LeaseLostError):
        await catalog.replace_document(TENANT, SOURCE, document, [], "old-pass")
    with pytest.raises(LeaseLostError):
        await catalog.record_vectors(TENANT, SOURCE, "d", ["x"], "old-pass")
    with pytest.raises(LeaseLostError):
        await catalog.remove_document(TENANT, SOURCE, "d", "old-pass")
    await catalog.replace_document(TENANT, SOURCE, document, [], "new-pass")
    assert set(await catalog.documents(TENANT, SOURCE)) == {"d"}
