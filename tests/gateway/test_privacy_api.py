"""Subject rights through the admin API and the CLI, against a real server on both backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Backend
from tests.support.inspect_db import audit_rows
from tests.support.server import REPO, ServerProcess
from tests.support.signing import standard_headers

ADMIN = {"authorization": "Bearer test-admin-token"}
SUBJECT = {"tenant": "default", "user_id": "u-api-1"}


@pytest.fixture
def server(backend: Backend) -> Iterator[ServerProcess]:
    proc = ServerProcess(backend.settings_env(), backend.tmp / "server.log").start()
    yield proc
    assert proc.stop(), proc.logs()


def privacy(backend: Backend, server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """Embedded, the CLI hands the work to the running server (its cache must forget); distributed, it
    works on PostgreSQL and Redis itself."""
    env = {**os.environ, **backend.settings_env(COZEGATE_PORT=str(server.port)), "PYTHONPATH": str(REPO), "USER": "dpo"}
    return subprocess.run(
        [sys.executable, "-m", "cozegate", "privacy", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_export_then_erase(server: ServerProcess, backend: Backend) -> None:
    body = json.dumps(
        {
            "event_type": "note",
            "event_id": "p-1",
            "conversation_id": "c-p1",
            "user_id": "u-api-1",
            "message": {"role": "user", "content": "QuinceMarkerText"},
        }
    ).encode()
    r = httpx.post(server.url + "/coze/webhook", content=body, headers=standard_headers(backend.secret, body))
    assert r.status_code == 200, r.text

    assert httpx.post(server.url + "/admin/privacy/export", json=SUBJECT).status_code == 401
    bad = httpx.post(server.url + "/admin/privacy/export", json={"tenant": "default"}, headers=ADMIN)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "bad_request"
    held = httpx.post(server.url + "/admin/privacy/export", json=SUBJECT, headers=ADMIN)
    assert held.status_code == 200, held.text
    assert "QuinceMarkerText" in held.text

    erased = privacy(backend, server, "erase", "--tenant", "default", "--user", "u-api-1", "--yes")
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout)["events"] == 1
    again = privacy(backend, server, "export", "--tenant", "default", "--user", "u-api-1")
    assert again.returncode == 0, again.stderr
    assert "QuinceMarkerText" not in again.stdout
    assert json.loads(again.stdout)["events"] == []

    actions = [(row["action"], row["actor"], row["target"]) for row in audit_rows(backend)]
    assert [a for a, _, _ in actions if a.startswith("privacy.")] == [
        "privacy.export",
        "privacy.erase",
        "privacy.export",
    ]
    assert all(target.startswith("subject:") for a, _, target in actions if a.startswith("privacy."))
    assert not any("u-api-1" in json.dumps(row, default=str) for row in audit_rows(backend))


def test_distributed_without_a_pseudonym_key_refuses_with_503(backend: Backend) -> None:
    if backend.is_sqlite:
        pytest.skip("embedded mode creates its key in the state folder")
    proc = ServerProcess(backend.settings_env(COZEGATE_PSEUDONYM_KEY=""), backend.tmp / "nokey.log").start()
    try:
        r = httpx.post(proc.url + "/admin/privacy/erase", json=SUBJECT, headers=ADMIN)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "privacy_not_configured"
    finally:
        assert proc.stop(), proc.logs()
