"""The built-in simulator answers only where asked for: never on an address other hosts reach unless
COZEGATE_COZE_SIMULATOR_EXPOSED says so (a gateway without Coze credentials refuses to start there),
and its fault injection and request log take the admin token."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.conftest import Backend
from tests.support.server import REPO, ServerProcess

ADMIN = {"authorization": "Bearer test-admin-token"}


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cozegate", *args],
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_gateway_without_credentials_refuses_a_public_address(backend: Backend) -> None:
    result = run("serve", env=backend.settings_env(COZEGATE_HOST="0.0.0.0", COZEGATE_PORT="0"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "COZEGATE_COZE_SIMULATOR_EXPOSED=true" in result.stderr
    assert "COZEGATE_COZE_TOKEN" in result.stderr


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_mounted_simulators_admin_endpoints_take_the_admin_token(backend: Backend) -> None:
    server = ServerProcess(backend.settings_env(COZEGATE_HANDLER_MODULES="[]"), backend.tmp / "server.log").start()
    try:
        fault = {"kind": "rate_limit", "endpoint": "chat.create", "count": 1}
        refused = httpx.post(server.url + "/_coze_sim/sim/faults", json=fault)
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthorized")
        assert httpx.get(server.url + "/_coze_sim/sim/requests").status_code == 401
        assert httpx.post(server.url + "/_coze_sim/sim/faults", json=fault, headers=ADMIN).status_code == 201
        me = httpx.get(server.url + "/_coze_sim/v1/users/me", headers={"authorization": "Bearer test-token"})
        assert me.status_code == 200  # the Coze API itself answers its own (test) token, as Coze does
    finally:
        assert server.stop(), server.logs()


def test_cozegate_sim_keeps_to_loopback_unless_exposed() -> None:
    result = run("sim", "--host", "0.0.0.0", "--port", "0", env={})
    assert result.returncode == 2
    assert "--expose" in result.stderr
