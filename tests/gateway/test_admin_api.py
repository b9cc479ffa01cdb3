"""Dead letters through the admin API and the CLI, audited, against a real server on both backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.support.inspect_db import audit_rows, inbox_rows, sink_rows
from tests.support.server import REPO, ServerProcess
from tests.support.signing import event_body, standard_headers
from tests.support.waiting import wait_for

ADMIN = {"authorization": "Bearer test-admin-token"}


@pytest.fixture
def server(backend: Backend) -> Iterator[ServerProcess]:
    proc = ServerProcess(backend.settings_env(COZEGATE_MAX_ATTEMPTS="2"), backend.tmp / "server.log").start()
    yield proc
    assert proc.stop(), proc.logs()


def send(server: ServerProcess, backend: Backend, event_id: str, event_type: str) -> None:
    body = event_body(event_id, event_type)
    r = httpx.post(server.url + "/coze/webhook", content=body, headers=standard_headers(backend.secret, body))
    assert r.status_code == 200, r.text


def dead_letters(server: ServerProcess) -> list[dict[str, Any]]:
    r = httpx.get(server.url + "/admin/dead-letters", headers=ADMIN)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_admin_api_requires_the_admin_token(server: ServerProcess) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic dGVzdA=="}):
        r = httpx.get(server.url + "/admin/dead-letters", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
    for path in ("/admin/dead-letters/1/replay", "/admin/dead-letters/1/discard"):
        assert httpx.post(server.url + path).status_code == 401


def test_without_a_configured_token(backend: Backend) -> None:
    """Embedded: a random token is generated into a 0600 file. Distributed: the admin API is off."""
    proc = ServerProcess(backend.settings_env(COZEGATE_ADMIN_TOKEN=""), backend.tmp / "s.log").start()
    try:
        r = httpx.get(proc.url + "/admin/dead-letters", headers={"authorization": "Bearer x"})
        assert r.status_code == 401
        token_file = backend.tmp / "state" / "admin-token"
        if backend.is_sqlite:
            assert token_file.stat().st_mode & 0o777 == 0o600
            token = token_file.read_text().strip()
            assert len(token) >= 32
            r = httpx.get(proc.url + "/admin/dead-letters", headers={"authorization": f"Bearer {token}"})
            assert r.status_code == 200
        else:
            assert not token_file.exists()
            assert "COZEGATE_ADMIN_TOKEN" in r.json()["error"]["message"]
    finally:
        assert proc.stop()


def test_dead_letter_inspect_replay_discard_is_audited(server: ServerProcess, backend: Backend) -> None:
    send(server, backend, "broken-1", "needs_fix")
    send(server, backend, "broken-2", "needs_fix")
    letters = wait_for(lambda: len(dead_letters(server)) == 2 and dead_letters(server))
    first, second = letters
    assert first["dedup_key"] == "broken-1"
    assert first["attempts"] == 2
    assert first["last_error"] == "RuntimeError: downstream unavailable"

    detail = httpx.get(f"{server.url}/admin/dead-letters/{first['id']}", headers=ADMIN).json()
    assert json.loads(detail["payload"])["event_id"] == "broken-1"
    assert [a["attempt"] for a in detail["attempt_log"]] == [1, 2]

    (backend.tmp / "fixed.flag").touch()  # the operator fixed the downstream
    r = httpx.post(
        f"{server.url}/admin/dead-letters/{first['id']}/replay",
        headers={**ADMIN, "x-request-id": "op-replay-1"},
    )
    assert r.json() == {"status": "replayed", "id": first["id"]}
    wait_for(lambda: sink_rows(backend).get(("default", "broken-1")) == 1)
    r = httpx.post(f"{server.url}/admin/dead-letters/{second['id']}/discard", headers=ADMIN)
    assert r.json() == {"status": "discarded", "id": second["id"]}
    assert dead_letters(server) == []
    statuses = {r["dedup_key"]: r["status"] for r in inbox_rows(backend)}
    assert statuses == {"broken-1": "done", "broken-2": "discarded"}
    assert ("default", "broken-2") not in sink_rows(backend)

    for path in (f"/admin/dead-letters/{second['id']}", f"/admin/dead-letters/{second['id']}/replay"):
        r = httpx.request("GET" if path.endswith(str(second["id"])) else "POST", server.url + path, headers=ADMIN)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "dead_letter_not_found")
    r = httpx.get(server.url + "/admin/dead-letters/abc", headers=ADMIN)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "bad_request")

    actions = [(a["action"], a["actor"], a["target"], a["request_id"]) for a in audit_rows(backend)]
    assert ("dead_letter.replay", "admin-token", str(first["id"]), "op-replay-1") in actions
    assert ("dead_letter.discard", "admin-token", str(second["id"])) in [x[:3] for x in actions]
    assert ("dead_letter.show", "admin-token", str(first["id"])) in [x[:3] for x in actions]
    assert "dead_letter.list" in [x[0] for x in actions]

    status = httpx.get(server.url + "/admin/inbox", headers=ADMIN).json()
    assert status["depth"] == {"pending": 0, "processing": 0, "dead": 0}


def cli(backend: Backend, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **backend.settings_env(), "PYTHONPATH": str(REPO), "USER": "ops"}
    return subprocess.run(
        [sys.executable, "-m", "cozegate", "dlq", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=backend.tmp,
    )


def test_dlq_cli_against_a_running_server(server: ServerProcess, backend: Backend) -> None:
    send(server, backend, "cli-1", "needs_fix")
    send(server, backend, "cli-2", "needs_fix")
    wait_for(lambda: len(dead_letters(server)) == 2)
    listed = cli(backend, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    ids = {item["dedup_key"]: item["id"] for item in json.loads(listed.stdout)}
    assert set(ids) == {"cli-1", "cli-2"}
    shown = cli(backend, "show", str(ids["cli-1"]))
    assert json.loads(json.loads(shown.stdout)["payload"])["event_id"] == "cli-1"
    table = cli(backend, "list")
    assert "cli-2" in table.stdout

    (backend.tmp / "fixed.flag").touch()
    assert cli(backend, "replay", str(ids["cli-1"])).returncode == 0
    assert cli(backend, "discard", str(ids["cli-2"])).returncode == 0
    wait_for(lambda: sink_rows(backend).get(("default", "cli-1")) == 1)
    missing = cli(backend, "replay", "999999")
    assert missing.returncode == 1
    assert "no dead letter with id 999999" in missing.stdout
    actors = {(a["action"], a["actor"]) for a in audit_rows(backend)}
    assert ("dead_letter.replay", "cli:ops") in actors
    assert ("dead_letter.discard", "cli:ops") in actors
