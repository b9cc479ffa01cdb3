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
