"""``cozegate operator`` on the command line: help that explains, options and environment variables."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cozegate.cli.operator import operator
from cozegate.operator import runner
from cozegate.operator.config import DEFAULT_IMAGE, OperatorConfig


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(operator)
    return app


def test_help_explains_the_operator_and_every_option() -> None:
    result = CliRunner().invoke(cli(), ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in (
        "CozeBot",
        "--namespace",
        "--image",
        "COZEGATE_OPERATOR_IMAGE",
        "--secret-name",
        "COZEGATE_OPERATOR_SECRET",
        "--standalone",
        "--peering",
        "--liveness",
        "deploy/crd/cozebot.yaml",
    ):
        assert text in result.output, text


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake_run(config: OperatorConfig, **options: Any) -> None:
        calls.append({"config": config, **options})

    monkeypatch.setattr(runner, "run", fake_run)
    return calls


def test_defaults_watch_every_namespace_standalone(runs: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(cli(), [], env={"COZEGATE_OPERATOR_IMAGE": "", "COZEGATE_OPERATOR_SECRET": ""})
    assert result.exit_code == 0, result.output
    (call,) = runs
    assert call["config"] == OperatorConfig(image=DEFAULT_IMAGE, secret_name="cozegate-backends")
    assert (tuple(call["namespaces"]), call["standalone"], call["liveness_endpoint"]) == ((), True, None)


def test_options_and_environment_reach_the_operator(runs: list[dict[str, Any]]) -> None:
    env = {"COZEGATE_OPERATOR_IMAGE": "registry.example/cozegate:2.0.0", "COZEGATE_OPERATOR_SECRET": "prod-backends"}
    args = ["-n", "bots", "--namespace", "team-*", "--peering", "--liveness", "http://0.0.0.0:8080/healthz"]
    result = CliRunner().invoke(cli(), args, env=env)
    assert result.exit_code == 0, result.output
    (call,) = runs
    assert call["config"] == OperatorConfig(image="registry.example/cozegate:2.0.0", secret_name="prod-backends")
    assert list(call["namespaces"]) == ["bots", "team-*"]
    assert call["standalone"] is False
    assert call["liveness_endpoint"] == "http://0.0.0.0:8080/healthz"
