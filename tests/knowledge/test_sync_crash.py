"""kill -9 of a gateway in the middle of a knowledge sync: after the restart the interrupted pass is
resumed (by the poller) and every document is indexed once: the database's chunks and Milvus Lite's
vectors agree one to one, and nothing is duplicated."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from milvus_lite import server_manager_instance
from sqlalchemy import select

from cozegate.knowledge.vector_index import VectorIndex
from cozegate.storage import Database, create_engine
from cozegate.storage.schema import knowledge_chunks
from cozegate.tenants import new_standard_secret
from tests.conftest import Backend
from tests.support.pipeline_gateway import gateway
from tests.support.receiver import ReplyReceiver
from tests.support.simulator import SimulatorProcess
from tests.support.waiting import wait_for

ADMIN = {"authorization": "Bearer test-admin-token"}
DOCUMENTS = 300


def _status(url: str) -> dict[str, Any]:
    r = httpx.get(url + "/admin/knowledge/default", headers=ADMIN, timeout=10)
    assert r.status_code == 200, r.text
    source: dict[str, Any] = r.json()["sources"][0]
    return source


async def _chunk_ids(backend: Backend) -> list[str]:
    db = Database(create_engine(backend.settings()))
    try:
        return await db.read(lambda conn: [r.chunk_id for r in conn.execute(select(knowledge_chunks.c.chunk_id))])
    finally:
        await db.close()


async def _stored(backend: Backend) -> tuple[list[str], list[str]]:
    """(chunk ids in the database, vector ids in Milvus Lite) of the tenant."""
    chunks = await _chunk_ids(backend)
    path = str(backend.tmp / "state" / "knowledge.db")
    index = VectorIndex(path, "cozegate_knowledge_hashing512", 512)
    await index.open()
    try:
        rows = await asyncio.to_thread(
            index.client.query, index.collection, filter='tenant == "default"', output_fields=["id"], limit=16384
        )
    finally:
        await index.close()
        server_manager_instance.release_server(path)
    return chunks, [str(row["id"]) for row in rows]


def test_a_sync_killed_halfway_resumes_after_restart_without_duplicates(
    simulator: SimulatorProcess, receiver: ReplyReceiver, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(DOCUMENTS):
        paragraphs = "\n\n".join(
            f"Paragraph {p} of note {n}: item {n * 7 + p} is stored in bin {p}." for p in range(12)
        )
        (docs / f"note-{n:03d}.md").write_text(f"# Note {n}\n\n{paragraphs}\n")
    backend = Backend("sqlite", {}, tmp_path, new_standard_secret())
    tenant = {"knowledge": {"sources": [{"kind": "folder", "name": "docs", "path": str(docs)}]}}
    first = gateway(backend, simulator, receiver, tenant=tenant)
    try:
        # the poller starts the first pass of the never-synced source; kill -9 once some documents are in
        wait_for(lambda: _status(first.url)["documents"] >= 40, timeout=120)
        first.kill()
    finally:
        if first.proc is not None and first.proc.poll() is None:
            first.kill()
    assert asyncio.run(_chunk_ids(backend))  # some documents were committed before the kill

    second = gateway(backend, simulator, receiver, tenant=tenant)
    try:
        status = wait_for(lambda: (s := _status(second.url))["synced_at"] and s, timeout=180)
        summary = status["last_summary"]
        assert status["documents"] == DOCUMENTS
        assert summary["resumed_after"] >= 40
        assert summary["added"] + summary["unchanged"] == DOCUMENTS
        assert 0 < summary["added"] < DOCUMENTS  # only the rest was indexed this time
    finally:
        assert second.stop()
    chunks, vectors = asyncio.run(_stored(backend))
    assert len(chunks) == len(set(chunks))
    assert sorted(vectors) == sorted(chunks)  # one vector per committed chunk: none missing, none stray
