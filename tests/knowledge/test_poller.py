"""Every replica runs the sync poller; a source is synced once per interval, by one of them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from milvus_lite import server_manager_instance

from cozegate.coze import CozeClient
from cozegate.knowledge.service import KnowledgeService
from cozegate.settings import Settings
from cozegate.storage import Database
from cozegate.tenants import TenantRegistry, new_standard_secret
from cozegate.tenants.live import LiveTenants
from tests.knowledge.conftest import WebSite


def _registry(docs: Path) -> TenantRegistry:
    return TenantRegistry.from_document(
        {
            "tenants": {
                "acme": {
                    "secrets": [{"value": new_standard_secret()}],
                    "knowledge": {"sources": [{"kind": "folder", "name": "docs", "path": str(docs)}]},
                },
                "plain": {"secrets": [{"value": new_standard_secret()}]},  # no knowledge: never polled
            }
        }
    )


def _no_coze(tenant: str) -> CozeClient:
    raise AssertionError("a folder source needs no Coze client")


async def test_replicas_sync_each_source_once_per_interval(db: Database, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nAlpha text.\n")
    registry = _registry(docs)
    settings = Settings(state_dir=tmp_path, knowledge_vector_uri=str(tmp_path / "k.db"))
    replicas = [KnowledgeService(settings, db, LiveTenants(registry), _no_coze) for _ in range(3)]
    try:
        synced = await asyncio.gather(*(replica.poll_once(3600) for replica in replicas))
        assert sum(synced) == 1
        assert [s.documents for s in await replicas[0].statuses("acme")] == [1]
        assert await replicas[1].poll_once(3600) == 0  # synced a moment ago

        (docs / "b.md").write_text("# B\n\nBeta text.\n")
        assert await replicas[2].poll_once(0.0) == 1  # the interval has passed
        assert [s.documents for s in await replicas[0].statuses("acme")] == [2]
        assert (await replicas[0].search("acme", "beta", top_k=1))[0].document == "b.md"
    finally:
        for replica in replicas:
            await replica.aclose()
        server_manager_instance.release_server(str(tmp_path / "k.db"))


async def test_a_failing_source_does_not_stop_the_poller(db: Database, tmp_path: Path) -> None:
    registry = _registry(tmp_path / "missing")
    service = KnowledgeService(
        Settings(state_dir=tmp_path, knowledge_vector_uri=str(tmp_path / "k.db")), db, LiveTenants(registry), _no_coze
    )
    try:
        assert await service.poll_once(3600) == 0  # logged, not raised
        [status] = await service.statuses("acme")
        assert status.synced_at is None
        assert not status.syncing  # the lease was released
    finally:
        await service.aclose()
        server_manager_instance.release_server(str(tmp_path / "k.db"))


async def test_a_requested_sync_is_due_until_a_pass_started_after_it_completes(db: Database, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nAlpha text.\n")
    registry = _registry(docs)
    settings = Settings(state_dir=tmp_path, knowledge_vector_uri=str(tmp_path / "k.db"))
    service = KnowledgeService(settings, db, LiveTenants(registry), _no_coze)
    try:
        assert await service.poll_once(3600) == 1
        assert await service.poll_once(3600) == 0
        await service.catalog.request("acme", ["docs"], time.time())  # what a knowledge_sync event records
        assert await service.poll_once(3600) == 1
        assert await service.poll_once(3600) == 0
    finally:
        await service.aclose()
        server_manager_instance.release_server(str(tmp_path / "k.db"))


async def test_a_removed_source_is_no_longer_searched_and_its_data_goes(
    db: Database, tmp_path: Path, website: WebSite
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "salaries.md").write_text("# Salaries\n\nThe CEO salary is confidential.\n")
    website.pages["faq.html"] = ("text/html", "<h1>FAQ</h1><p>The canteen opens at noon.</p>")
    secret = new_standard_secret()
    both = {
        "secrets": [{"value": secret}],
        "knowledge": {
            "sources": [
                {"kind": "folder", "name": "hr", "path": str(docs)},
                {"kind": "urls", "name": "site", "urls": [website.url_of("faq.html")]},
            ]
        },
    }
    live = LiveTenants(TenantRegistry.from_document({"tenants": {"acme": both}}))
    settings = Settings(
        state_dir=tmp_path, knowledge_vector_uri=str(tmp_path / "k.db"), knowledge_fetch_private_addresses=True
    )
    service = KnowledgeService(settings, db, live, _no_coze)
    try:
        assert await service.poll_once(3600) == 2
        assert (await service.search("acme", "CEO salary", top_k=1))[0].source == "hr"
        site_only = {**both, "knowledge": {"sources": [both["knowledge"]["sources"][1]]}}  # type: ignore[index]
        live.swap(TenantRegistry.from_document({"tenants": {"acme": site_only}}))
        assert all(p.source == "site" for p in await service.search("acme", "CEO salary", top_k=5))
        assert await service.prune() == 0  # within the grace period (a rolling configuration change)
        assert await service.prune(grace=0) == 1
        assert ("acme", "hr") not in await service.catalog.known_sources()
        index, _ = await service._ready()
        assert await index.count("acme") == 1  # the site's one chunk; hr's vectors are gone

        del website.pages["faq.html"]  # the page is gone at its origin: it leaves the index
        [outcome] = await service.sync("acme")
        assert outcome.summary is not None
        assert outcome.summary.deleted == 1
        assert await index.count("acme") == 0
    finally:
        await service.aclose()
        server_manager_instance.release_server(str(tmp_path / "k.db"))


async def test_a_failing_source_waits_longer_between_tries_unless_asked_for(db: Database, tmp_path: Path) -> None:
    registry = _registry(tmp_path / "missing")
    settings = Settings(state_dir=tmp_path, knowledge_vector_uri=str(tmp_path / "k.db"))
    service = KnowledgeService(settings, db, LiveTenants(registry), _no_coze)
    try:
        assert await service.poll_once(3600) == 0  # fails: the folder does not exist
        [status] = await service.statuses("acme")
        assert (status.failures, status.syncing) == (1, False)
        assert not status.due(time.time(), 3600)  # 30 s before the next try
        assert status.due(time.time() + 31, 3600)
        assert await service.poll_once(3600) == 0
        assert (await service.statuses("acme"))[0].failures == 1  # not tried again within the delay
        await service.catalog.request("acme", ["docs"], time.time())
        assert (await service.statuses("acme"))[0].due(time.time(), 3600)  # asked for: tried now
        (tmp_path / "missing").mkdir()
        assert await service.poll_once(3600) == 1
        assert (await service.statuses("acme"))[0].failures == 0
    finally:
        await service.aclose()
        server_manager_instance.release_server(str(tmp_path / "k.db"))
