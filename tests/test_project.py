"""The project's own promises: lint, types, and a README that tells the truth."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from cozegate.settings import Settings

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = run("ruff", "check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run("ruff", "format", "--check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = run("mypy", "src")
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_documents_every_setting() -> None:
    for name in Settings.model_fields:
        assert f"`COZEGATE_{name.upper()}`" in README, f"README lacks COZEGATE_{name.upper()}"


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"^((?:sh scripts/test-tools.sh && )?python3 -m venv .+)$", README, flags=re.M)
    assert len(commands) == 2, "README gives exactly two set-up commands"
    serve, test = commands
    assert serve.endswith("cozegate serve")
    assert test in (REPO / ".ci" / "run").read_text()


def test_a_lease_shorter_than_the_handler_timeout_is_refused() -> None:
    with pytest.raises(ValidationError, match="LEASE_SECONDS"):
        Settings(lease_seconds=5, handler_timeout_seconds=10)
