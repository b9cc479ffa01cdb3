"""Knowledge through a running ``cozegate serve``: sync with the CLI (progress and summary), search over
HTTP and the CLI, the Dify External Knowledge API, tenant isolation, augmentation of a user's message,
and a sync asked for by a signed webhook event.

Embedded: one server, Milvus Lite in its state folder. Distributed: two replicas on PostgreSQL + Redis and
one Milvus server (Milvus Lite's gRPC server, the same protocol a Milvus server speaks) by URL: one replica
syncs, the other answers.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from fpdf import FPDF

from cozegate.tenants import new_standard_secret
from tests.conftest import Backend
from tests.support.inspect_db import audit_rows
from tests.support.pipeline_gateway import gateway, send
from tests.support.receiver import ReplyReceiver
from tests.support.server import ServerProcess
from tests.support.signing import standard_headers
from tests.support.simulator import SimulatorProcess
from tests.support.waiting import wait_for

ADMIN = {"authorization": "Bearer test-admin-token"}
DIFY_KEY = "dify-key-acme-0123456789"
OTHER_KEY = "dify-key-other-0123456789"


def _pdf(path: Path, text: str) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    pdf.output(str(path))


def _documents(root: Path) -> tuple[Path, Path]:
    acme, other = root / "acme-docs", root / "other-docs"
    (acme / "policies").mkdir(parents=True)
    other.mkdir()
    (acme / "handbook.md").write_text(
        "# Employee handbook\n\n## Vacation\n\nEvery employee gets 25 days of paid vacation per year.\n\n"
        "## Expenses\n\nMeals are reimbursed up to 50 EUR per day.\n"
    )
    (acme / "policies" / "refunds.txt").write_text("退货政策\n========\n\n商品在收货后七天内可以无理由退货。\n")
    (acme / "policies" / "security.html").write_text(
        "<html><head><title>Security</title><script>var x=1</script></head><body><nav>menu</nav>"
        "<h1>Security</h1><p>Badges must be worn visibly at all times on the premises.</p></body></html>"
    )
    _pdf(acme / "travel.pdf", "Travel policy. Book flights through the travel desk at least 14 days ahead.")
    (acme / ".hidden.md").write_text("# Hidden\n\nnever indexed")
    (other / "menu.md").write_text("# Canteen\n\nThe canteen serves vacation-themed dumplings on Fridays.\n")
    return acme, other


def _knowledge(path: Path, key: str, augment: bool) -> dict[str, Any]:
    config: dict[str, Any] = {
        "sources": [{"kind": "folder", "name": "docs", "path": str(path)}],
        "api_keys": [{"value": key}],
    }
    if augment:
        config["augment"] = {"top_k": 2}
    return config


def _cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return server.cli("knowledge", *args)


def _search(server: ServerProcess, q: str, **params: Any) -> list[dict[str, Any]]:
    r = httpx.get(server.url + "/v1/knowledge/search", params={"q": q, **params}, headers=ADMIN, timeout=30)
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def _retrieval(server: ServerProcess, key: str | None, body: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(server.url + "/retrieval", json=body, headers=headers, timeout=30)


def test_sync_search_retrieval_and_isolation(
    backend: Backend, simulator: SimulatorProcess, receiver: ReplyReceiver, milvus_server: str, tmp_path: Path
) -> None:
    acme, other = _documents(tmp_path)
    backend.extra_tenants = {
        "other": {
            "secrets": [{"value": backend.secret}],
            "knowledge": _knowledge(other, OTHER_KEY, augment=False),
        }
    }
    env = {"COZEGATE_KNOWLEDGE_SYNC_INTERVAL_SECONDS": "86400"}
    if not backend.is_sqlite:
        env["COZEGATE_KNOWLEDGE_VECTOR_URI"] = milvus_server
        env["COZEGATE_KNOWLEDGE_COLLECTION"] = f"k{time.monotonic_ns()}"  # the server outlives one test
    tenant = {"knowledge": _knowledge(acme, DIFY_KEY, augment=True)}
    syncer = gateway(backend, simulator, receiver, tenant=tenant, **env)
    answerer = syncer if backend.is_sqlite else gateway(backend, simulator, receiver, tenant=tenant, **env)
    try:
        # the first pass may be the poller's (it syncs a never-synced source at start); the CLI's then finds
        # everything unchanged. Either way the summary line and the progress bar are printed.
        wait_for(lambda: _status(syncer)["sources"][0]["synced_at"] is not None, timeout=60)
        done = _cli(syncer, "sync")
        assert done.returncode == 0, done.stderr + done.stdout
        assert "docs" in done.stdout
        assert "4/4" in done.stdout
        assert "unchanged" in done.stdout
        assert _status(syncer)["sources"][0]["documents"] == 4

        (acme / "policies" / "security.html").unlink()
        (acme / "handbook.md").write_text((acme / "handbook.md").read_text().replace("25 days", "27 days"))
        (acme / "parking.md").write_text("# Parking\n\nEmployees park in garage B, levels 2 and 3.\n")
        done = _cli(syncer, "sync", "--tenant", "default", "--source", "docs")
        assert done.returncode == 0, done.stderr + done.stdout
        assert "1 added, 1 updated, 1 deleted, 2 unchanged, 0 skipped" in done.stdout
        assert "chunks embedded" in done.stdout

        # the other replica answers from the same index
        top = _search(answerer, "how many days of paid vacation", tenant="default")[0]
        assert "27 days" in top["text"]
        assert (top["source"], top["document"], top["title"]) == ("docs", "handbook.md", "Employee handbook")
        assert _search(answerer, "七天 退货", tenant="default", mode="keyword")[0]["document"] == "policies/refunds.txt"
        assert _search(answerer, "book flights travel desk", tenant="default")[0]["document"] == "travel.pdf"
        assert not _search(answerer, "badges worn visibly", tenant="default", score_threshold=0.9)
        assert all(
            r["document"] == "parking.md" for r in _search(answerer, "garage", tenant="default", document="parking.md")
        )
        printed = _cli(answerer, "search", "garage levels", "--tenant", "default", "-k", "1")
        assert printed.returncode == 0, printed.stderr
        assert "Parking" in printed.stdout
        assert "garage B" in printed.stdout

        # tenants see only their own knowledge (the poller synced tenant other's at start)
        assert _cli(syncer, "sync", "--tenant", "other").returncode == 0
        assert {r["document"] for r in _search(answerer, "vacation", tenant="other")} == {"menu.md"}
        assert "menu.md" not in {r["document"] for r in _search(answerer, "vacation dumplings", tenant="default")}

        # the Dify External Knowledge API
        body = {
            "knowledge_id": "docs",
            "query": "meal reimbursement",
            "retrieval_setting": {"top_k": 2, "score_threshold": 0.0},
        }
        assert _retrieval(answerer, None, body).json()["error_code"] == 1001
        assert _retrieval(answerer, "wrong-key", body).status_code == 403
        assert _retrieval(answerer, "wrong-key", body).json()["error_code"] == 1002
        assert _retrieval(answerer, DIFY_KEY, {**body, "knowledge_id": "nope"}).json()["error_code"] == 2001
        found = _retrieval(answerer, DIFY_KEY, body)
        assert found.status_code == 200, found.text
        records = found.json()["records"]
        assert 1 <= len(records) <= 2
        assert "50 EUR" in records[0]["content"]
        assert set(records[0]) == {"content", "score", "title", "metadata"}
        assert records[0]["metadata"]["document"] == "handbook.md"
        assert 0 < records[0]["score"] <= 1
        only_refunds = {
            **body,
            "metadata_condition": {
                "conditions": [{"name": ["document"], "comparison_operator": "is", "value": "policies/refunds.txt"}]
            },
        }
        refunds = _retrieval(answerer, DIFY_KEY, {**only_refunds, "query": "退货 七天"}).json()["records"]
        assert [r["metadata"]["document"] for r in refunds] == ["policies/refunds.txt"]
        assert _retrieval(answerer, DIFY_KEY, only_refunds).json()["records"] == []  # no meal in the refunds
        all_sources = {**body, "knowledge_id": "*", "query": "dumplings canteen"}
        assert {r["metadata"]["document"] for r in _retrieval(answerer, OTHER_KEY, all_sources).json()["records"]} == {
            "menu.md"
        }
        assert "dumplings" not in json.dumps(_retrieval(answerer, DIFY_KEY, all_sources).json())

        # the bot gets the passages with the user's message (the echo bot repeats what it was sent)
        send(answerer, backend, "e-augment", "how many vacation days do I get?")
        [reply] = wait_for(receiver.snapshot, timeout=60)
        content = reply.body["message"]["content"]
        assert "Reference passages" in content
        assert "27 days" in content
        assert content.rstrip().endswith("Question: how many vacation days do I get?")

        # a signed webhook event asks for a sync; the inbox runs it
        (acme / "canteen.md").write_text("# Canteen\n\nLunch is served from 11:30 to 14:00.\n")
        event = json.dumps({"event_type": "knowledge_sync", "event_id": "sync-1", "source": "docs"}).encode()
        r = httpx.post(answerer.url + "/coze/webhook", content=event, headers=standard_headers(backend.secret, event))
        assert r.status_code == 200, r.text
        wait_for(lambda: _status(syncer)["sources"][0]["documents"] == 5, timeout=60)
        assert "11:30" in _search(syncer, "when is lunch served", tenant="default")[0]["text"]

        metrics = httpx.get(syncer.url + "/metrics", timeout=10).text
        assert 'cozegate_knowledge_documents_total{outcome="added",source="docs",tenant="default"}' in metrics
        assert 'cozegate_knowledge_search_seconds_count{mode="keyword"}' in httpx.get(answerer.url + "/metrics").text

        actions = [row["action"] for row in audit_rows(backend)]
        assert actions.count("knowledge.sync") == 3  # the CLI's three (the poller and the event are no admin action)
    finally:
        for server in {syncer, answerer}:
            server.stop()


def _status(server: ServerProcess) -> dict[str, Any]:
    r = httpx.get(server.url + "/admin/knowledge/default", headers=ADMIN, timeout=10)
    assert r.status_code == 200, r.text
    status: dict[str, Any] = r.json()
    return status


def test_bad_requests_get_clear_errors(simulator: SimulatorProcess, receiver: ReplyReceiver, tmp_path: Path) -> None:
    backend = Backend("sqlite", {}, tmp_path, new_standard_secret())  # input checking does not depend on it
    acme, _ = _documents(tmp_path)
    server = gateway(backend, simulator, receiver, tenant={"knowledge": _knowledge(acme, DIFY_KEY, augment=False)})
    try:
        r = httpx.get(server.url + "/v1/knowledge/search", params={"q": "", "top_k": "x"}, headers=ADMIN)
        assert r.status_code == 400
        assert {d["field"] for d in r.json()["error"]["details"]} == {"q", "top_k"}
        r = httpx.get(
            server.url + "/v1/knowledge/search", params={"q": "a", "tenant": "default", "source": "nope"}, headers=ADMIN
        )
        assert (r.status_code, r.json()["error"]["code"]) == (404, "knowledge_not_configured")
        assert httpx.get(server.url + "/v1/knowledge/search", params={"q": "a"}).status_code == 401
        r = httpx.post(server.url + "/admin/knowledge/default/sync", json={"source": "Bad Name"}, headers=ADMIN)
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_arguments")
        r = httpx.post(server.url + "/admin/knowledge/ghost/sync", json={}, headers=ADMIN)
        assert r.status_code == 404
        r = _retrieval(server, DIFY_KEY, {"knowledge_id": "docs", "query": "x"})
        assert (r.status_code, r.json()["error_code"]) == (400, 1003)
        r = httpx.post(server.url + "/retrieval", content=b"{not json", headers={"authorization": f"Bearer {DIFY_KEY}"})
        assert r.status_code == 400
    finally:
        server.stop()
