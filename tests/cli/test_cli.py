"""The command line: help that explains, migrations, and the schema check of distributed start-up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import Backend
from tests.support.server import REPO, ServerProcess


def cozegate(backend: Backend, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **backend.settings_env(**env), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "cozegate", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=backend.tmp,
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_help_names_every_command(backend: Backend) -> None:
    result = cozegate(backend, "--help")
    assert result.returncode == 0
    for command in ("serve", "migrate", "dlq", "webhook", "sim", "bots", "operator"):
        assert command in result.stdout


def test_distributed_start_refuses_an_old_schema_until_migrated(backend: Backend) -> None:
    if backend.is_sqlite:
        result = cozegate(backend, "migrate")
        assert result.returncode == 0, result.stderr
        assert "up to date" in result.stdout
        return
    with pytest.raises(RuntimeError, match="cozegate migrate"):
        ServerProcess(backend.settings_env(COZEGATE_AUTO_MIGRATE="false"), backend.tmp / "s1.log").start(timeout=30)
    result = cozegate(backend, "migrate", COZEGATE_AUTO_MIGRATE="false")
    assert result.returncode == 0, result.stderr
    server = ServerProcess(backend.settings_env(COZEGATE_AUTO_MIGRATE="false"), backend.tmp / "s2.log").start()
    assert server.stop()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_webhook_send_finds_the_server_by_its_port_and_says_when_none_answers(backend: Backend) -> None:
    server = ServerProcess(backend.settings_env(), backend.tmp / "send.log").start()
    try:
        sent = cozegate(backend, "webhook", "send", "hello", "--wait", "0", COZEGATE_PORT=str(server.port))
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith('200 {"status": "acknowledged"}')
        signed = cozegate(backend, "webhook", "sign", COZEGATE_PORT=str(server.port))
        assert f"http://127.0.0.1:{server.port}/coze/webhook" in signed.stdout
    finally:
        assert server.stop()
    gone = cozegate(backend, "webhook", "send", "hello", COZEGATE_PORT=str(server.port))
    assert gone.returncode == 1
    assert f"no server answers at http://127.0.0.1:{server.port}" in gone.stderr
    assert "Traceback" not in gone.stderr
