"""The lifecycle through a real ``cozegate serve`` (both backends) and the real ``cozegate bots`` CLI:
create, deploy through Coze (the built-in simulator, spoken to by cozepy), idempotent redeploy,
scale, terminate, history, errors, audit; and a server killed with SIGKILL in the middle of a deploy
that resumes, or rolls back when its deadline passed meanwhile."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from cozegate.compliance import AuditLog
from cozegate.coze.simulator import create_simulator_app
from cozegate.lifecycle import BotStore
from cozegate.settings import Settings
from cozegate.storage import Database, create_engine
from tests.conftest import Backend
from tests.support.server import ServerProcess
from tests.support.sim_server import SimServer
from tests.support.waiting import wait_for

T = TypeVar("T")
ADMIN = {"authorization": "Bearer test-admin-token"}


def cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return server.cli("bots", *args)


@pytest.fixture
def server(backend: Backend, tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(backend.settings_env(), tmp_path / "server.log").start()
    yield proc
    proc.stop()


def sim_bot(server: ServerProcess, bot_id: str) -> dict[str, Any]:
    bots = httpx.get(server.url + "/_coze_sim/sim/bots", headers=ADMIN, timeout=10).json()["bots"]
    return next(b for b in bots if b["id"] == bot_id)


def test_lifecycle_through_the_cli_and_the_admin_api(server: ServerProcess) -> None:
    api = httpx.Client(base_url=server.url, headers=ADMIN, timeout=30)
    httpx.post(
        server.url + "/_coze_sim/sim/bots", json={"id": "bot-shop", "kind": "echo", "published": False}, headers=ADMIN
    )
    assert sim_bot(server, "bot-shop")["published"] is False

    created = cli(server, "create", "shop", "--tenant", "default", "--recovery", "rollback")
    assert created.returncode == 0, created.stderr
    assert "pending" in created.stdout

    deployed = cli(server, "deploy", "shop", "--version", "v1", "--coze-bot-id", "bot-shop")
    assert deployed.returncode == 0, deployed.stderr
    assert "running" in deployed.stdout
    assert sim_bot(server, "bot-shop")["published"] is True  # published through Coze's API (cozepy)

    again = api.post("/admin/bots/shop/deploy", json={"version": "v1", "coze_bot_id": "bot-shop"})
    assert again.status_code == 200
    assert again.json()["changed"] is False

    scaled = cli(server, "scale", "shop", "--replicas", "3")
    assert scaled.returncode == 0, scaled.stderr
    assert api.get("/admin/bots/shop").json()["bot"]["replicas"] == 3

    illegal = api.post("/admin/bots/nope/scale", json={"replicas": 1})
    assert illegal.status_code == 404
    assert illegal.json()["error"]["code"] == "bot_not_found"
    bad = api.post("/admin/bots/shop/scale", json={"replicas": -1})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["field"] == "replicas"
    assert httpx.get(server.url + "/admin/bots", timeout=10).status_code == 401

    terminated = cli(server, "terminate", "shop")
    assert terminated.returncode == 0, terminated.stderr
    assert sim_bot(server, "bot-shop")["published"] is False  # withdrawn from the API channel
    conflict = api.post("/admin/bots/shop/deploy", json={"version": "v2", "coze_bot_id": "bot-shop"})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "illegal_transition"

    history = api.get("/admin/bots/shop/history").json()["history"]
    assert [(h["from"], h["to"], h["trigger"]) for h in history] == [
        ("pending", "deploying", "deploy"),
        ("deploying", "running", "deployed"),
        ("running", "scaling", "scale"),
        ("scaling", "running", "scaled"),
        ("running", "terminating", "terminate"),
        ("terminating", "terminated", "terminated"),
    ]
    assert history[0]["actor"] == "admin-token"
    shown = cli(server, "show", "shop")
    assert shown.returncode == 0
    assert "terminated" in shown.stdout

    actions = [e["action"] for e in read_db(server.env, lambda db: AuditLog(db).recent(200))]
    for action in ("bot.define", "bot.deploy", "bot.scale", "bot.terminate"):
        assert action in actions, (action, actions)
    assert actions.count("bot.deploy") == 1, "the no-op redeploy is not an admin change"


@pytest.fixture
def external_sim() -> Iterator[SimServer]:
    sim = SimServer(create_simulator_app()).start()
    yield sim
    sim.stop()


def _deploy_in_flight(server: ServerProcess, sim: SimServer, name: str) -> None:
    api = httpx.Client(base_url=server.url, headers=ADMIN, timeout=30)
    sim.admin.post("/sim/bots", json={"id": f"bot-{name}", "kind": "echo", "published": False})
    sim.add_fault(kind="latency", delay_ms=120_000, endpoint="bots.publish")
    assert api.put(f"/admin/bots/{name}", json={"tenant": "default"}).status_code == 201
    started = api.post(f"/admin/bots/{name}/deploy", json={"version": "v1", "coze_bot_id": f"bot-{name}"})
    assert started.status_code == 202
    assert started.json()["bot"]["state"] == "deploying"
    wait_for(lambda: any(r["endpoint"] == "bots.publish" for r in _requests(sim)))  # Coze is being asked
    server.kill()


def _requests(sim: SimServer) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = sim.admin.get("/sim/requests").json()["requests"]
    return requests


def _bot(server: ServerProcess, name: str) -> dict[str, Any]:
    bot: dict[str, Any] = httpx.get(f"{server.url}/admin/bots/{name}", headers=ADMIN, timeout=10).json()["bot"]
    return bot


def test_a_deploy_interrupted_by_a_crash_resumes_after_restart(
    backend: Backend, tmp_path: Path, external_sim: SimServer
) -> None:
    env = backend.settings_env(COZEGATE_COZE_BASE_URL=external_sim.url)
    server = ServerProcess(env, tmp_path / "server.log").start()
    _deploy_in_flight(server, external_sim, "resume")
    external_sim.clear_faults()  # Coze answers again

    restarted = ServerProcess(env, tmp_path / "server.log", port=server.port).start()
    try:
        # embedded: carried on at start; distributed: once the dead process's beat is stale (30 s)
        bot = wait_for(lambda: (b := _bot(restarted, "resume"))["state"] == "running" and b, timeout=120)
        assert bot["version"] == "v1"
        history = httpx.get(f"{restarted.url}/admin/bots/resume/history", headers=ADMIN, timeout=10).json()["history"]
        assert [h["trigger"] for h in history] == ["deploy", "deployed"]
        assert external_sim.admin.get("/sim/bots").json()["bots"][-1]["published"] is True
    finally:
        restarted.stop()


def test_a_deploy_whose_deadline_passed_while_down_is_rolled_back_after_restart(
    backend: Backend, tmp_path: Path, external_sim: SimServer
) -> None:
    env = backend.settings_env(COZEGATE_COZE_BASE_URL=external_sim.url, COZEGATE_LIFECYCLE_DEPLOY_TIMEOUT_SECONDS="2")
    server = ServerProcess(env, tmp_path / "server.log").start()
    _deploy_in_flight(server, external_sim, "late")
    restarted = ServerProcess(env, tmp_path / "server.log", port=server.port)
    # the restart happens once the stored deadline is behind us (Coze is still not answering publishes)
    wait_for(lambda: _deadline_passed(env, "late"), timeout=60)
    restarted.start()
    try:
        bot = wait_for(lambda: (b := _bot(restarted, "late"))["state"] == "failed" and b)
        history = httpx.get(f"{restarted.url}/admin/bots/late/history", headers=ADMIN, timeout=10).json()["history"]
        assert [(h["trigger"], h["actor"]) for h in history] == [("deploy", "admin-token"), ("timed_out", "lifecycle")]
        assert "took longer than 2 s" in history[-1]["detail"]
        # clean-up: the half-published bot is withdrawn from its channel
        unpublished = [r for r in _requests(external_sim) if r["endpoint"] == "bots.unpublish"]
        assert any("bot-late" in json.dumps(r) for r in unpublished)
        assert bot["deadline_at"] is None
    finally:
        restarted.stop()


def read_db(env: dict[str, str], work: Callable[[Database], Awaitable[T]]) -> T:
    """Read the server's database with its own settings (from another process, as an operator would)."""
    old = dict(os.environ)
    os.environ.update(env)
    try:
        settings = Settings()
    finally:
        os.environ.clear()
        os.environ.update(old)

    async def run() -> T:
        db = Database(create_engine(settings))
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(run())


def _deadline_passed(env: dict[str, str], name: str) -> bool:
    bot = read_db(env, lambda db: BotStore(db).get(name))
    return bot is not None and bot.deadline_at is not None and bot.deadline_at < time.time()
